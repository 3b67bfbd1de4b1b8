// The overview: the period's totals against the prior period, warnings, the daily chart,
// the top customers and agents, and where the cost comes from (source, provider, model).
import { api, listOf, qs, section } from "../lib/api.js";
import { drawSeries } from "../lib/chart.js";
import { badge, card, h, link, main, notice, pageHead } from "../lib/dom.js";
import { fmtInt, fmtMoney, money, toNanos } from "../lib/format.js";
import { fxFlag, fxWarning } from "../lib/fx.js";
import { addDays, period, periodPicker } from "../lib/period.js";
import { figureKpis, overviewReport } from "../lib/reports.js";
import { dataTable, marginCol, moneyCol } from "../lib/table.js";

function partyRowsLink(kind) {
  return (r) => (r.key ? link(`/${kind}/${encodeURIComponent(r.key)}`, r.label || r.key) : h("span", { class: "muted" }, r.label || "(none)"));
}
function rankList(rows, kind) {
  // The overview ranks by profit itself, with an "Other" row last.
  const hasRevenue = rows.some((r) => r.revenue != null);
  const cols = [{ key: "label", label: kind === "customers" ? "Customer" : "Agent", render: partyRowsLink(kind) }, moneyCol("cost", "Cost")];
  if (hasRevenue) cols.push(moneyCol("revenue", "Revenue"), moneyCol("profit", "Profit"), marginCol);
  else cols.push({ key: "signals", label: "Signals", num: true, render: (r) => fmtInt(r.signals) });
  return h("div", {}, hasRevenue ? null : h("p", { class: "muted small" }, "No revenue tracked in this period."),
    dataTable(cols, rows, { filter: false, empty: "Nothing recorded in this period." }));
}
// Where the cost comes from: AI calls, costs recorded by hand, cost meters.
const SOURCE_LABELS = { ai: "AI calls (costs naming a model)", manual: "Recorded costs (no model)", meter: "Cost meters" };
function sourceBreakdown(rows) {
  return dataTable([
    { key: "source", label: "Source", render: (r) => h("span", { dataset: { source: r.source } }, SOURCE_LABELS[r.source] || r.source) },
    moneyCol("cost", "Cost"),
  ], rows, { filter: false, empty: "No cost tracked in this period." });
}
// How the headline profit is made: the customers' profits, plus what the modes leave out.
function explanation(totals) {
  const notes = totals.flatMap((t) => (t.notes || []).map((n) => ({ currency: t.currency, note: n, profit: t.profit })));
  if (!notes.length) return null;
  return h("div", { class: "notes", id: "explained" }, notes.map((n) =>
    h("p", { class: "muted small", dataset: { note: n.currency } }, `Profit · ${n.currency} ${n.note}.`)));
}
// The cost column of a breakdown, with a bar as long as the row's share of the largest cost
// (BigInt nano-units compared, not added: the bar's length is the only float).
function costWithBar(rows) {
  const max = rows.reduce((m, r) => (toNanos(r.cost) > m ? toNanos(r.cost) : m), 0n);
  const width = (r) => (max ? Number((toNanos(r.cost) * 1000n) / max) / 10 : 0);
  return { key: "cost", label: "Cost", num: true, value: (r) => toNanos(r.cost), render: (r) => h("div", {}, money(r.cost, r.currency), fxFlag(r, "cost"),
    h("div", { class: "bar" }, h("span", { style: `width:${width(r)}%` }))) };
}
function costBreakdown(rows) {
  return dataTable([
    { key: "label", label: "Name", render: (r) => [r.label, r.unpriced ? [" ", badge(`${fmtInt(r.unpriced)} unpriced`, "warn")] : null] },
    costWithBar(rows),
    { key: "records", label: "Calls", num: true, render: (r) => fmtInt(r.records) },
  ], rows, { filter: false, sort: { key: "cost", dir: -1 } });
}

// Cost per catalog model (the API groups a model's dated snapshots under it); the names as
// reported are inside each row.
function modelBreakdown(rows) {
  const name = (r) => {
    const snaps = r.snapshots || [];
    const title = [r.label, r.in_catalog || r.is_other ? null : [" ", badge("not in catalog", "warn")], r.unpriced ? [" ", badge(`${fmtInt(r.unpriced)} unpriced`, "warn")] : null];
    if (snaps.length < 2 && !(snaps.length === 1 && snaps[0].model !== r.model)) return h("span", { dataset: { model: r.model || "" } }, title);
    return h("details", { class: "snapshots", dataset: { model: r.model || "" } },
      h("summary", {}, title, " ", h("span", { class: "muted small" }, `${snaps.length} name${snaps.length > 1 ? "s" : ""}`)),
      h("ul", { class: "small" }, snaps.map((x) => h("li", { dataset: { snapshot: x.model || "" } }, h("code", {}, x.model || "?"), " · ", money(x.cost, r.currency), fxFlag(x, "cost"), ` · ${fmtInt(x.records)} calls`))));
  };
  return dataTable([
    { key: "label", label: "Model", render: name },
    costWithBar(rows),
    { key: "records", label: "Calls", num: true, render: (r) => fmtInt(r.records) },
  ], rows, { filter: false, empty: "No AI calls in this period." });
}

export async function overviewPage() {
  const p = period();
  const totalsEl = h("div", { class: "kpis", id: "totals" }, h("p", { class: "muted" }, "Loading…"));
  const explainedEl = h("div", {});
  const chartEl = h("div", { class: "chart", id: "chart" }, h("p", { class: "muted" }, "Loading chart…"));
  const customersEl = h("div", {}), agentsEl = h("div", {}), providersEl = h("div", {}), modelsEl = h("div", {});
  const sourcesEl = h("div", { id: "cost-by-source" });
  const warnEl = h("div", { id: "warnings" }), flaggedEl = h("div", {}), unpricedEl = h("div", {});
  main.replaceChildren(
    pageHead("Overview", `${p.fromDate} → ${addDays(p.toDate, -1)} · ${p.tz}`, periodPicker()),
    totalsEl,
    explainedEl,
    card("Warnings", warnEl, unpricedEl, flaggedEl),
    card("Cost vs revenue per day", chartEl),
    h("div", { class: "grid" }, card("Top customers by profit", customersEl), card("Top agents by profit", agentsEl)),
    h("div", { class: "grid", style: "margin-top:1rem" }, card("Cost by source", sourcesEl), card("Cost by provider", providersEl)),
    h("div", { style: "margin-top:1rem", id: "cost-by-model" }, card("Cost by model", modelsEl)));
  let report;
  try {
    report = await overviewReport(p);
  } catch (err) {
    totalsEl.replaceChildren(h("p", { class: "error", role: "alert" }, `Overview: ${err.message}`));
    return;
  }
  totalsEl.dataset.from = report.from;
  totalsEl.dataset.to = report.to;
  totalsEl.dataset.source = report.source;
  if (!report.totals.length) totalsEl.replaceChildren(notice("Nothing recorded in this period."));
  else totalsEl.replaceChildren(...report.totals.flatMap((t) => figureKpis(t, (x) => (x.margin == null ? "needs revenue" : "profit ÷ revenue"))));
  const fx = fxWarning(report.totals, report);
  if (fx) warnEl.append(fx);
  explainedEl.replaceChildren(explanation(report.totals) || "");
  customersEl.replaceChildren(rankList(report.customers, "customers"));
  agentsEl.replaceChildren(rankList(report.agents, "agents"));
  sourcesEl.replaceChildren(sourceBreakdown(report.sources));
  providersEl.replaceChildren(costBreakdown(report.providers));
  modelsEl.replaceChildren(report.catalogModels ? modelBreakdown(report.catalogModels) : costBreakdown(report.models));
  if (report.unpriced) {
    warnEl.append(h("div", { class: "warning", dataset: { warning: "unpriced" } }, `⚠ ${fmtInt(report.unpriced)} cost record(s) are unpriced: the price book has no price for their model. `,
      link("/prices", "Set a price"), " · ", link("/signals#unpriced", "see them")));
  }
  for (const u of report.unassigned || []) {
    warnEl.append(h("div", { class: "warning", dataset: { warning: "unassigned" } },
      `⚠ ${fmtMoney(u.cost, u.currency)} of cost (${fmtInt(u.records)} record(s)) belongs to no customer: its traces name none. `,
      "Map the attributes your agents set (user.id, tenant.id…) with `margin attribution set --customer-key …` or PATCH /v1/organization/attribution."));
  }
  section(flaggedEl, "flagged traces (GET /v1/traces?flagged=true)", async () => {
    const rows = listOf(await api("/v1/traces" + qs({ flagged: "true", from: p.from, to: p.to, limit: 50 })));
    if (!rows.length) return h("p", { class: "muted" }, "✓ No trace holds several cost-tracing signals in this period.");
    return h("div", { class: "warning", dataset: { warning: "flagged" } },
      `⚠ ${rows.length} trace(s) hold several cost-tracing signals; their costs went to the earliest: `,
      rows.map((t, i) => [i ? ", " : "", link(`/traces/${t.trace_id || t.id}`, String(t.trace_id || t.id).slice(0, 12) + "…")]));
  });
  if (!report.unpriced) unpricedEl.append(h("p", { class: "muted" }, "✓ Every cost in this period is priced."));
  drawSeries(chartEl, report.series);
}
