// The daily chart (uPlot): cost and revenue, each on its own scale.
import { h, notice } from "./dom.js";
import { moneyFormat } from "./format.js";
import { seriesNote } from "./fx.js";

// Cost and revenue differ by orders of magnitude: each has its own scale (cost on the left
// axis, revenue on the right), or cost would be a flat line at zero on revenue's scale.
const DAY_S = 86_400;
const dayLabel = (v) => new Date(v * 1000).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
// Axis labels: the currency's minor unit, or more digits when the ticks are closer than
// that (a first day's few cents would read $0.00, $0.00, $0.01…). Floats only label axes.
function axisMoney(currency, incr) {
  const base = moneyFormat(currency, false).resolvedOptions().maximumFractionDigits;
  const need = incr > 0 ? Math.ceil(-Math.log10(incr) - 1e-9) : 0;
  const digits = Math.min(9, Math.max(base, need));
  return digits === base ? moneyFormat(currency, false)
    : new Intl.NumberFormat(undefined, currency ? { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits } : { maximumFractionDigits: digits });
}
export function lineChart(target, days, seriesDefs) {
  if (!window.uPlot) {
    target.replaceChildren(notice("Chart library not loaded."));
    return;
  }
  const xs = days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
  const width = () => Math.max(260, target.clientWidth || 600);
  // One day of data is a zero-width x range, which uPlot widens by 1000 days (the first
  // day of a new install read Feb 2027 – Aug 2029): pin that day with half a day either
  // side. A few days get one tick each, dated, never hours.
  const single = xs.length === 1 ? [xs[0] - DAY_S / 2, xs[0] + DAY_S / 2] : null;
  const yRange = (u, min, max) => [Math.min(0, min ?? 0), max > 0 ? max * 1.1 : 1];
  const few = days.length <= 12;
  const scales = { x: single ? { time: true, auto: false, range: () => single } : { time: true } };
  for (const s of seriesDefs) scales[s.scale] = { range: yRange };
  const opts = {
    width: width(), height: 280, scales,
    axes: [
      { stroke: "#5f6b7a", grid: { stroke: "#eef1f5" }, splits: few ? () => xs : undefined, values: (u, vals) => vals.map(dayLabel) },
      ...seriesDefs.map((s, i) => ({
        scale: s.scale, side: i === 0 ? 3 : 1, stroke: s.color, size: 72, grid: { show: i === 0, stroke: "#eef1f5" },
        values: (u, vals, axis, space, incr) => vals.map((v) => axisMoney(s.currency, incr).format(v)),
      }))],
    series: [{ value: (u, v) => (v == null ? "" : new Date(v * 1000).toISOString().slice(0, 10)) },
      ...seriesDefs.map((s) => ({ label: s.label, scale: s.scale, stroke: s.color, width: 2, fill: s.color + "18",
        points: { show: days.length < 40, size: days.length === 1 ? 10 : 6 },
        value: (u, v) => (v == null ? "—" : moneyFormat(s.currency, false).format(v)) }))],
    hooks: { draw: [(u) => {
      // What the chart shows, for people reading the DOM and for tests.
      target.dataset.xFrom = new Date(u.scales.x.min * 1000).toISOString();
      target.dataset.xTo = new Date(u.scales.x.max * 1000).toISOString();
      target.dataset.scales = u.series.slice(1).map((s) => s.scale).join(",");
    }] },
  };
  target.replaceChildren();
  const plot = new uPlot(opts, [xs, ...seriesDefs.map((s) => s.values)], target);
  if (single) plot.setScale("x", { min: single[0], max: single[1] });
  target.dataset.points = String(xs.length);
  new ResizeObserver(() => plot.setSize({ width: width(), height: 280 })).observe(target);
}
// A report's daily series (reports.js seriesOf) in `chartEl`: its first currency's cost and revenue.
export function drawSeries(chartEl, series) {
  if (!series || !series.days.length) {
    chartEl.replaceChildren(notice("No daily series for this period."));
    return;
  }
  const [currency, s] = Object.entries(series.byCurrency)[0] || ["USD", { cost: series.days.map(() => 0) }];
  const defs = [{ label: `Cost (${currency})`, scale: "cost", color: "#d9480f", values: s.cost, currency }];
  if (s.revenue) defs.push({ label: `Revenue (${currency})`, scale: "revenue", color: "#1c7ed6", values: s.revenue, currency });
  lineChart(chartEl, series.days, defs);
  const fx = seriesNote(series.unconvertedDays);
  if (fx) chartEl.after(fx);
  if (defs.length > 1) {
    chartEl.after(h("p", { class: "muted small chart-note" }, "Cost on the left axis, revenue on the right: each has its own scale."));
  }
}
