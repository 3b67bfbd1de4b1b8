// The report endpoints as pages use them, and their figures as KPI cards.
import { h } from "./dom.js";
import { api, listOf, qs } from "./api.js";
import { fmtMoney, fmtPct, NOT_TRACKED } from "./format.js";
import { localDate } from "./period.js";
import { fxFlag, nullReason } from "./fx.js";

// Report rows carry `key` as {dimension: id} and `margin_pct`/`change_pct`; pages use a flat
// id and `margin`/`change`. Profit and margin are the API's, never worked out here (one number
// everywhere): a row without them (a party with nothing in the period) shows "—".
export function flatRow(row) {
  const out = { ...row };
  if (out.key && typeof out.key === "object") out.key = Object.values(out.key).filter(Boolean).join("/") || null;
  out.margin = out.margin_pct !== undefined ? out.margin_pct : out.margin ?? null;
  if (out.change_pct !== undefined) out.change = out.change_pct;
  out.profit ??= null;
  return out;
}
function normalizeOverview(d) {
  // The overview report: totals per currency with the prior period, a daily series, top lists.
  const totals = listOf(d.totals).map((t) => flatRow({
    ...t,
    prior: t.prior || t.previous || null,
    change: t.change || null,
  }));
  const series = seriesOf(listOf(d.series || d.daily), d.tz);
  const top = (x) => listOf(x).map(flatRow);
  return {
    source: "overview", from: d.from, to: d.to, currency: d.currency, rates: d.rates, totals, series,
    customers: top(d.top_customers || d.customers), agents: top(d.top_agents || d.agents),
    providers: top(d.cost_by_provider || d.providers), models: top(d.cost_by_model || d.models),
    catalogModels: d.cost_by_catalog_model || null,
    sources: listOf(d.cost_by_source),
    unpriced: typeof d.unpriced === "object" && d.unpriced ? d.unpriced.records : d.unpriced ?? null,
    unassigned: listOf(d.unassigned),
  };
}
// Daily points (one per day × currency) into chart arrays. Floats only place points.
export function seriesOf(points, tz) {
  const dayOf = (pt) => pt.date || localDate(pt.window_start, tz);
  const days = [...new Set(points.map(dayOf))].sort();
  const byCurrency = {};
  for (const pt of points) {
    const i = days.indexOf(dayOf(pt));
    const cur = pt.currency || "USD";
    byCurrency[cur] ??= { cost: days.map(() => null), revenue: days.map(() => null) };
    // Part of a day's figure without a rate: no point, rather than one that reads too low.
    const gone = (k) => pt[k] == null || pt.unconverted?.some((u) => u[k] != null);
    byCurrency[cur].cost[i] = gone("cost") ? null : Number(pt.cost);
    byCurrency[cur].revenue[i] = gone("revenue") ? null : Number(pt.revenue);
  }
  for (const s of Object.values(byCurrency)) if (s.revenue.every((v) => v == null)) s.revenue = null;
  return { days, byCurrency, unconvertedDays: [...new Set(points.filter((pt) => pt.unconverted?.length).map(dayOf))].sort() };
}

// GET /v1/reports/margin: rows per group (and window) with cost, revenue, profit, margin %.
export async function marginReport(p, params) {
  const d = await api("/v1/reports/margin" + qs({ from: p.from, to: p.to, tz: p.tz, ...params }));
  return { ...d, rows: listOf(d.rows).map(flatRow), totals: listOf(d.totals).map(flatRow) };
}
export async function overviewReport(p) {
  return normalizeOverview(await api("/v1/reports/overview" + qs({ from: p.from, to: p.to, tz: p.tz })));
}

// `flag`: the ⚠ of a figure part of which has no exchange rate (fx.js), beside the value.
export function kpi(cls, label, amount, currency, delta, flag = null) {
  const exact = amount == null ? flag?.title || NOT_TRACKED : cls === "margin" ? `${amount} %` : `${amount} ${currency || ""}`.trim();
  return h("div", { class: `kpi ${cls}`, dataset: { kpi: cls } },
    h("div", { class: "label" }, label),
    h("div", { class: "value", title: exact, dataset: { amount: amount ?? "", currency: currency ?? "" } },
      cls === "margin" ? fmtPct(amount) : amount == null ? "—" : fmtMoney(amount, currency), flag),
    h("div", { class: "delta" }, delta ?? ""));
}
// Cost, revenue, profit and margin of one report row (a total, a party's row) as KPI cards;
// `marginNote(row)` under a known margin.
export function figureKpis(t, marginNote) {
  return [
    kpi("cost", `Cost · ${t.currency}`, t.cost, t.currency, t.cost == null ? "cost not tracked" : deltaText(t.change?.cost, false), fxFlag(t, "cost")),
    kpi("revenue", `Revenue · ${t.currency}`, t.revenue, t.currency, t.revenue == null ? "revenue not tracked" : deltaText(t.change?.revenue), fxFlag(t, "revenue")),
    kpi("profit", `Profit · ${t.currency}`, t.profit, t.currency, t.profit == null ? nullReason(t, "needs cost and revenue") : deltaText(t.change?.profit), fxFlag(t, "profit")),
    kpi("margin", "Margin", t.margin, null, t.margin == null ? nullReason(t, marginNote(t)) : marginNote(t), fxFlag(t, "margin")),
  ];
}
// The change against the prior period; a rising cost is bad news, rising revenue good news.
function deltaText(change, goodWhenUp = true) {
  if (change == null) return h("span", {}, "no prior data");
  const up = !String(change).startsWith("-");
  return h("span", {}, h("span", { class: up === goodWhenUp ? "pos" : "neg" }, (up ? "▲ " : "▼ ") + fmtPct(String(change).replace(/^-/, ""))), " vs prior period");
}
