// Signals & traces: every signal of the period, flagged traces and unpriced costs.
import { api, fetchAll, listOf, partyNames, qs, section, when } from "../lib/api.js";
import { badge, card, h, link, main, pageHead } from "../lib/dom.js";
import { fmtInt, fmtTime } from "../lib/format.js";
import { addDays, period, periodPicker } from "../lib/period.js";
import { dataTable } from "../lib/table.js";

function tracesTable(rows, empty = "No traces.") {
  return dataTable([
    { key: "trace_id", label: "Trace", render: (r) => link(`/traces/${r.trace_id || r.id}`, h("code", {}, String(r.trace_id || r.id).slice(0, 16) + "…")) },
    { key: "cost_tracing_signals", label: "Cost-tracing signals", num: true, render: (r) => fmtInt(r.cost_tracing_signals) },
    { key: "flagged", label: "", render: (r) => (r.flagged ? badge("flagged", "warn") : "") },
  ], rows, { filter: false, page: 10, empty });
}

export async function signalsPage() {
  const p = period();
  const params = new URLSearchParams(location.search);
  const listEl = h("div", { id: "signals-list" }, h("p", { class: "muted" }, "Loading…"));
  const unpricedEl = h("div", {}), flaggedEl = h("div", {});
  const open = h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); const v = e.target.trace.value.trim(); if (v) location.href = `/traces/${encodeURIComponent(v)}`; } },
    h("label", {}, "Open a trace", h("input", { name: "trace", placeholder: "32-hex trace id", size: 34 })), h("button", { class: "secondary" }, "Open"));
  main.replaceChildren(pageHead("Signals & traces", `${p.fromDate} → ${addDays(p.toDate, -1)} · ${p.tz}`, periodPicker()),
    card(null, open),
    h("div", { class: "grid" }, h("section", { class: "card", id: "flagged" }, h("h2", {}, "Flagged traces"), flaggedEl),
      h("section", { class: "card", id: "unpriced" }, h("h2", {}, "Unpriced costs"), unpricedEl)),
    h("div", { style: "margin-top:1rem" }, card("Signals", listEl)));
  section(listEl, "signals list (GET /v1/signals)", async () => {
    const [all, names] = await Promise.all([fetchAll("/v1/signals", { event_name: params.get("event_name"), from: p.from, to: p.to }, 5000), partyNames()]);
    const rows = all.map((r) => ({ ...r, customer: names.get(r.customer_id) || r.customer_id, agent: names.get(r.agent_id) || r.agent_id }));
    return dataTable([
      { key: "ts", label: "When", value: (r) => when(r), render: (r) => h("span", { class: "nowrap" }, fmtTime(when(r))) },
      { key: "event_name", label: "Signal", render: (r) => h("code", {}, r.event_name) },
      { key: "customer", label: "Customer", render: (r) => (r.customer_id ? link(`/customers/${r.customer_id}`, r.customer) : "—") },
      { key: "agent", label: "Agent", hideSm: true, render: (r) => (r.agent_id ? link(`/agents/${r.agent_id}`, r.agent) : "—") },
      { key: "trace_id", label: "Trace", render: (r) => (r.trace_id ? link(`/traces/${r.trace_id}`, h("code", {}, r.trace_id.slice(0, 12) + "…")) : "—") },
      { key: "cost_tracing", label: "Cost tracing", hideSm: true, render: (r) => (r.cost_tracing ? badge("on", "ok") : badge("off")) },
    ], rows, { sort: { key: "ts", dir: -1 }, page: 50 });
  });
  section(flaggedEl, "flagged traces (GET /v1/traces?flagged=true)", async () =>
    tracesTable(listOf(await api("/v1/traces" + qs({ flagged: "true", from: p.from, to: p.to, limit: 100 }))), "✓ No trace holds several cost-tracing signals in this period."));
  section(unpricedEl, "unpriced costs (GET /v1/costs?priced_by=unpriced)", async () => {
    const rows = listOf(await api("/v1/costs" + qs({ priced_by: "unpriced", limit: 100 })));
    return dataTable([
      { key: "ts", label: "When", value: (r) => when(r), render: (r) => h("span", { class: "nowrap" }, fmtTime(when(r))) },
      { key: "model", label: "Model", render: (r) => h("span", { title: r.unpriced_reason || "" }, `${r.provider || "?"} / ${r.model || "?"}`) },
      { key: "trace_id", label: "Trace", render: (r) => (r.trace_id ? link(`/traces/${r.trace_id}`, h("code", {}, r.trace_id.slice(0, 12) + "…")) : "—") },
    ], rows, { filter: false, sort: { key: "ts", dir: -1 }, page: 10, empty: "✓ No unpriced costs." });
  });
}
