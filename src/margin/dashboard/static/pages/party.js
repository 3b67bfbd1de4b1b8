// One customer or agent: its figures and daily chart, its signals by type, its recent traces,
// and for a customer its credits and entitlements, and its units with theirs.
import { api, fetchAll, listOf, qs, section, when } from "../lib/api.js";
import { drawSeries } from "../lib/chart.js";
import { card, h, ID, IS_ADMIN, link, main, notice, pageHead } from "../lib/dom.js";
import { fmtInt, fmtTime } from "../lib/format.js";
import { fxWarning } from "../lib/fx.js";
import { addDays, period, periodPicker } from "../lib/period.js";
import { figureKpis, marginReport, seriesOf } from "../lib/reports.js";
import { dataTable, moneyCol, priceCol } from "../lib/table.js";
import { partyForm, trackingBadge } from "./parties.js";

export async function partyDetailPage(kind) {
  const p = period();
  const singular = kind === "customers" ? "customer" : "agent";
  let party;
  try {
    party = await api(`/v1/${kind}/${encodeURIComponent(ID)}`);
  } catch (err) {
    main.replaceChildren(pageHead(singular), h("p", { class: "error", role: "alert" }, err.message), link(`/${kind}`, `← all ${kind}`));
    return;
  }
  const totalsEl = h("div", { class: "kpis", id: "totals" }), fxEl = h("div", {});
  const chartEl = h("div", { class: "chart", id: "chart" }, h("p", { class: "muted" }, "Loading chart…"));
  const signalsEl = h("div", { id: "by-signal" }), tracesEl = h("div", { id: "recent-traces" });
  main.replaceChildren(
    pageHead(party.name || party.external_id, `${singular} · ${party.external_id} · ${p.fromDate} → ${addDays(p.toDate, -1)} · ${p.tz}`, periodPicker()),
    h("p", {}, link(`/${kind}`, `← all ${kind}`)),
    totalsEl, fxEl,
    h("div", { class: "grid" }, card("Cost vs revenue per day", chartEl), card("Details", h("dl", { class: "kv", id: "party-details" },
      ["id", "external_id", "email", "description", "currency", "created_at"].filter((k) => party[k] != null).flatMap((k) => [h("dt", {}, k.replace("_", " ")), h("dd", {}, String(party[k]))]),
      h("dt", {}, "tracking mode"), h("dd", { id: "tracking-mode" }, trackingBadge(party.tracking_mode))),
      IS_ADMIN ? h("details", { style: "margin-top:1rem", id: "edit" }, h("summary", {}, `Edit this ${singular}`),
        h("div", { style: "margin-top:.75rem" }, partyForm(kind, party, () => setTimeout(() => location.reload(), 600)))) : null)),
    // Full width: the per-outcome columns do not fit half a card.
    h("div", { style: "margin-top:1rem" }, card("Signals by type", signalsEl)),
    card("Recent traces", tracesEl),
    ...(kind === "customers" ? [card("Credits & entitlements", customerControl(party)), card("Units", customerUnits(party))] : []));
  const only = { [singular]: party.id };
  section(totalsEl, "margin report (GET /v1/reports/margin)", async () => {
    const r = await marginReport(p, { ...only, compare: "true" });
    const rows = r.rows.filter((g) => g.currency);
    if (!rows.length) return [notice("Nothing recorded in this period.")];
    fxEl.replaceChildren(fxWarning(rows.map((g) => ({ ...g, label: null })), r) || "");
    return rows.flatMap((g) => figureKpis(g, () => `${fmtInt(g.signals)} signals · ${fmtInt(g.records)} AI calls`));
  });
  section(chartEl, "daily series (GET /v1/reports/margin?window=day)", async () => {
    const r = await marginReport(p, { ...only, window: "day" });
    const box = h("div", {});
    setTimeout(() => drawSeries(box, seriesOf(r.rows, p.tz)));
    return box;
  });
  section(signalsEl, "margin report by signal (GET /v1/reports/margin)", () => signalsByType(p, only));
  // The lists filter by party (external id) and period on the server.
  section(tracesEl, "recent traces (GET /v1/signals, GET /v1/traces/{id})", async () => {
    const filter = { [kind === "customers" ? "customer" : "agent"]: party.external_id, from: p.from, to: p.to };
    return recentTraces(await fetchAll("/v1/signals", filter));
  });
}

// Per event name: outcomes, the AI cost attributed to them, and cost and revenue per outcome
// as the cost-per-outcome report answers them (unknown when part of the figure has no rate).
async function signalsByType(p, only) {
  const rows = (await marginReport(p, { ...only, group_by: "event_name" })).rows.filter((r) => r.key);
  const per = await Promise.all(rows.map((r) => api("/v1/reports/cost-per-outcome" + qs({ from: p.from, to: p.to, tz: p.tz, ...only, event_name: r.key }))));
  const list = rows.map((r, i) => {
    const found = listOf(per[i].rows).find((x) => x.currency === r.currency) || {};
    return { ...r, event_name: r.label || r.key, cost_per_outcome: found.cost_per_outcome ?? null, revenue_per_outcome: found.revenue_per_outcome ?? null };
  });
  return dataTable([
    { key: "event_name", label: "Signal", render: (r) => h("code", {}, r.event_name) },
    { key: "signals", label: "Count", num: true, render: (r) => fmtInt(r.signals) },
    moneyCol("cost", "Attributed cost", { hideSm: true }), priceCol("cost_per_outcome", "Cost / outcome"),
    ...(list.some((r) => r.revenue_per_outcome != null) ? [priceCol("revenue_per_outcome", "Revenue / outcome", { hideSm: true })] : []),
  ], list, { filter: false, sort: { key: "signals", dir: -1 }, empty: "No signals in this period." });
}
// The latest traces with a signal, each with its cost as the server totals it (the trace's
// cost_total, one row per currency): the page never adds amounts itself.
async function recentTraces(sigs) {
  const seen = new Set();
  const latest = [];
  for (const s of [...sigs].sort((a, b) => Date.parse(when(b)) - Date.parse(when(a)))) {
    if (!s.trace_id || seen.has(s.trace_id)) continue;
    seen.add(s.trace_id);
    latest.push({ trace_id: s.trace_id, ts: when(s), event_name: s.event_name });
    if (latest.length === 12) break;
  }
  const details = await Promise.all(latest.map((r) => api(`/v1/traces/${encodeURIComponent(r.trace_id)}`)));
  const rows = latest.flatMap((r, i) => {
    const totals = Object.entries(details[i].attribution?.cost_total || {});
    return totals.length ? totals.map(([currency, cost]) => ({ ...r, cost, currency })) : [{ ...r, cost: null }];
  });
  return dataTable([
    { key: "trace_id", label: "Trace", render: (r) => link(`/traces/${r.trace_id}`, h("code", {}, r.trace_id.slice(0, 12) + "…")) },
    { key: "ts", label: "When", render: (r) => h("span", { class: "nowrap" }, fmtTime(r.ts)) },
    { key: "event_name", label: "Signal", hideSm: true, render: (r) => h("code", {}, r.event_name) },
    moneyCol("cost", "Cost"),
  ], rows, { filter: false, empty: "No traces in this period." });
}

// A customer's credit balances and entitlements (on the customer page).
function customerControl(party) {
  const el = h("div", { id: "customer-control" });
  section(el, "credits and entitlements (GET /v1/customers/{id}/credits/balances)", async () => {
    const [balances, ents] = await Promise.all([
      api(`/v1/customers/${party.id}/credits/balances`), api(`/v1/customers/${party.id}/entitlements`)]);
    return [
      dataTable([{ key: "currency", label: "Credits" }, { key: "balance", label: "Balance" },
        { key: "granted", label: "Granted" }, { key: "overage", label: "Owed" }],
        listOf(balances), { filter: false, empty: "No credits." }),
      dataTable([{ key: "feature", label: "Entitlement" }, { key: "kind", label: "Kind" },
        { key: "limit", label: "Limit", value: (r) => (r.limit == null ? "—" : `${r.limit} / ${r.period}`) },
        { key: "hard", label: "Limit kind", value: (r) => (r.kind === "metered" ? (r.hard ? "hard" : "soft") : "—") },
        { key: "source", label: "From", value: (r) => (r.source === "plan" ? `plan ${r.plan}` : "customer") }],
        listOf(ents), { filter: false, empty: "No entitlements." }),
    ];
  });
  return el;
}

// A customer's units (sub-accounts), each with its own entitlements and credit balances (a
// unit's usage burns its credits before the customer's).
function customerUnits(party) {
  const el = h("div", { id: "customer-units" });
  const base = `/v1/customers/${party.id}`;
  section(el, "units (GET /v1/customers/{id}/units, …/entitlements?unit=, …/credits/balances?unit=)", async () => {
    const units = listOf(await api(`${base}/units`));
    const rows = await Promise.all(units.map(async (u) => {
      const unit = qs({ unit: u.id });
      const [ents, balances] = await Promise.all([api(`${base}/entitlements${unit}`), api(`${base}/credits/balances${unit}`)]);
      const own = listOf(ents).filter((e) => e.source === "unit");
      return { ...u, name: u.name || "—",
        entitlements: own.map((e) => (e.kind === "metered" ? `${e.feature} ${e.limit ?? "∞"} / ${e.period} ${e.hard ? "hard" : "soft"}` : `${e.feature} (${e.kind})`)).join(", ") || "— (the customer's)",
        credits: listOf(balances).map((b) => `${b.currency} ${b.balance} of ${b.granted}`).join(", ") || "—" };
    }));
    return dataTable([
      { key: "external_id", label: "Unit", render: (r) => h("code", {}, r.external_id) },
      { key: "name", label: "Name", hideSm: true },
      { key: "entitlements", label: "Own entitlements" },
      { key: "credits", label: "Credits" },
    ], rows, { filter: false, empty: "No units." });
  });
  return el;
}
