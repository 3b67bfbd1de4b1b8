// The pricing simulator page: pick a plan, change its prices, choose past billing periods,
// and see revenue, profit and margin per customer under the candidate beside the actual —
// from POST /v1/plans/simulate, which re-rates the recorded facts and stores nothing.
// Amounts stay decimal strings; differences come from the API (no float arithmetic here).

import { api, listOf } from "../lib/api.js";
import { card, h, main, pageHead, unavailable } from "../lib/dom.js";
import { fmtPct, money, signClass, toNanos } from "../lib/format.js";
import { kpi } from "../lib/reports.js";
import { dataTable } from "../lib/table.js";

// margin.css lays out labels above their inputs in a form.inline; these rows sit inside one form.
const ROW = "display:flex;gap:.5rem;flex-wrap:wrap;align-items:flex-end;border:0;padding:0;margin:0";
const LABEL = "display:flex;flex-direction:column;font-size:.8rem;color:var(--muted);gap:.2rem";

const lastMonth = () => {
  const d = new Date();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() - 1);
  return d.toISOString().slice(0, 7);
};

// Inputs for the prices of a plan, prefilled with its own.
function priceInputs(plan) {
  const field = (name, label, value) =>
    h("label", { style: LABEL }, label, h("input", { name, value: value ?? "", inputmode: "decimal", size: 9, dataset: { original: value ?? "" } }));
  return [
    // An outcome paid in credits keeps its credit price: only money prices are edited here.
    ...plan.outcomes.map((o, i) => (o.credit_currency ? null : field(`outcome.${i}`, `${o.event_name} (per outcome)`, o.price))),
    ...plan.fees.map((f, i) => field(`fee.${i}`, `${f.name || f.key} (${f.interval} fee)`, f.amount)),
    ...plan.usage.map((u, i) => (u.model === "per_unit" ? field(`usage.${i}`, `${u.name || u.key} (per unit)`, u.unit_price) : null)),
    field("minimum", "Minimum", plan.minimum),
  ];
}

// The candidate: the plan's key when no price changed, else the plan inline with the new prices.
function candidateOf(plan, form) {
  const inputs = [...form.querySelectorAll("[data-original]")];
  if (inputs.every((i) => i.value === i.dataset.original)) return plan.key;
  const value = (name) => form.elements[name]?.value;
  return {
    key: plan.key,
    agent: plan.agent_id || undefined,
    currency: plan.currency,
    outcomes: plan.outcomes.map((o, i) => (o.credit_currency ? o : { ...o, price: value(`outcome.${i}`) })),
    fees: plan.fees.map((f, i) => ({ ...f, amount: value(`fee.${i}`) })),
    usage: plan.usage.map((u, i) => (u.model === "per_unit" ? { ...u, unit_price: value(`usage.${i}`) } : u)),
    minimum: value("minimum") || null,
  };
}

const figureCols = (name, label) => [
  { key: `actual_${name}`, label, num: true, value: (r) => toNanos(r.actual[name]), render: (r) => money(r.actual[name], r.currency) },
  { key: `candidate_${name}`, label: "→ candidate", num: true, value: (r) => toNanos(r.candidate[name]),
    render: (r) => h("span", { class: name === "profit" ? signClass(r.candidate[name]) : "" }, money(r.candidate[name], r.currency)) },
];
const changeCol = {
  key: "change", label: "Change", num: true, value: (r) => toNanos(r.change.revenue),
  render: (r) => h("span", { class: signClass(r.change.revenue) }, money(r.change.revenue, r.currency)),
};
const pctCols = [
  { key: "actual_pct", label: "Margin", num: true, hideSm: true, render: (r) => fmtPct(r.actual.margin_pct) },
  { key: "candidate_pct", label: "→ candidate", num: true, hideSm: true, render: (r) => fmtPct(r.candidate.margin_pct) },
];

function flags(result) {
  const rows = [...result.customers, ...result.totals];
  const missing = rows.some((r) => r.actual.unconverted || r.candidate.unconverted);
  return missing
    ? h("p", { class: "notice", role: "note" }, `Some figures have no exchange rate into ${result.currency} for their date: they are left out and the profit they touch is unknown (—). Load the rates under “margin fx”.`)
    : null;
}

function results(result) {
  const kpis = result.totals.map((t) =>
    h("div", { class: "kpis", dataset: { currency: t.currency || "" } },
      kpi("revenue", "Revenue, actual", t.actual.revenue, t.currency),
      kpi("revenue", "Revenue, candidate", t.candidate.revenue, t.currency, h("span", {}, "change ", money(t.change.revenue, t.currency))),
      kpi("profit", "Profit, candidate", t.candidate.profit, t.currency, h("span", {}, "actual ", money(t.actual.profit, t.currency))),
      kpi("margin", "Margin, candidate", t.candidate.margin_pct, t.currency, h("span", {}, "actual ", fmtPct(t.actual.margin_pct)))));
  const plan = result.plan;
  const what = `${plan.key}${plan.stored ? "" : " (edited)"} in place of ${result.replaces} on ${result.orders_replaced} order(s), ${result.from}${result.to !== result.from ? " … " + result.to : ""}`;
  return [
    h("p", { class: "muted small", id: "sim-what" }, what),
    flags(result),
    ...kpis,
    dataTable([
      { key: "label", label: "Customer", render: (r) => (r.customer_id ? h("a", { href: `/customers/${encodeURIComponent(r.customer_id)}` }, r.label) : r.label) },
      ...figureCols("revenue", "Revenue"), changeCol, ...figureCols("profit", "Profit"), ...pctCols,
    ], result.customers, { sort: { key: "change", dir: 1 }, id: "sim-customers", empty: "No customer has figures in these periods." }),
  ];
}

export default async function simulatePage() {
  const out = h("div", { id: "sim-results", "aria-live": "polite" });
  let plans;
  try {
    plans = listOf(await api("/v1/plans"));
  } catch (err) {
    main.replaceChildren(err.unavailable ? unavailable("plans (GET /v1/plans)") : h("p", { class: "error", role: "alert" }, err.message));
    return;
  }
  const head = pageHead("Pricing simulator", "Re-rate past billing periods under a candidate plan, beside what the current plans give. Nothing is stored.");
  if (!plans.length) {
    main.replaceChildren(head, card(null, h("p", { class: "muted" }, "No plans yet: create one (POST /v1/plans) to simulate changes to it.")));
    return;
  }
  const prices = h("fieldset", { id: "sim-prices", style: ROW });
  const pick = h("select", { name: "plan", "aria-label": "Plan", onchange: () => fill() }, plans.map((p) => h("option", { value: p.key }, `${p.key} (${p.currency})`)));
  const replaces = h("select", { name: "replaces", "aria-label": "Replaces" },
    h("option", { value: "" }, "orders on this plan"), h("option", { value: "all" }, "every order"),
    plans.map((p) => h("option", { value: p.key }, `orders on ${p.key}`)));
  const form = h("form", { class: "stack", id: "sim-form", onsubmit: (e) => { e.preventDefault(); run(); } },
    h("div", { style: ROW },
      h("label", { style: LABEL }, "Plan", pick),
      h("label", { style: LABEL }, "Replaces", replaces),
      h("label", { style: LABEL }, "From", h("input", { name: "from", type: "month", value: lastMonth(), required: true })),
      h("label", { style: LABEL }, "To", h("input", { name: "to", type: "month" })),
      h("label", { style: LABEL }, "Customers", h("input", { name: "customers", placeholder: "all (or ids, comma-separated)", size: 24 }))),
    prices,
    h("div", {}, h("button", { class: "primary", type: "submit" }, "Simulate")));
  function fill() {
    const plan = plans.find((p) => p.key === pick.value);
    prices.replaceChildren(h("legend", { class: "muted small", style: "width:100%;padding:0" }, `Candidate prices in ${plan.currency} (change any; unchanged, the plan is simulated as it is)`), ...priceInputs(plan));
  }
  async function run() {
    const plan = plans.find((p) => p.key === pick.value);
    const customers = form.elements.customers.value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = { plan: candidateOf(plan, form), from: form.elements.from.value, to: form.elements.to.value || null, replaces: replaces.value || null, customers: customers.length ? customers : null };
    out.replaceChildren(h("p", { class: "muted" }, "Rating…"));
    try {
      out.replaceChildren(...results(await api("/v1/plans/simulate", { method: "POST", json: body })).filter(Boolean));
    } catch (err) {
      out.replaceChildren(err.unavailable ? unavailable("the simulator (POST /v1/plans/simulate)") : h("p", { class: "error", role: "alert" }, err.message));
    }
  }
  fill();
  main.replaceChildren(head, card(null, form), card(null, out));
}
