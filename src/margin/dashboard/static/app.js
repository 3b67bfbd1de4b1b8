// Margin dashboard. Every number on these pages comes from the public /v1 JSON API, fetched
// with the session cookie. Amounts arrive as decimal strings: they are formatted from the
// string (Intl.NumberFormat accepts decimal strings) and any sum or difference is done on
// BigInt nano-units, never in float. Floats are used only to place points on a chart.

import { plansPage, ordersPage, metersPage, keysPage, partyForm, trackingBadge } from "./manage.js";
import { lineChart } from "./chart.js";
import { confirmDialog } from "./dialog.js";
import { spanTree } from "./spans.js";
import { fxFlag, fxWarning, nullReason, seriesNote } from "./fx.js";

const body = document.body;
const PAGE = body.dataset.page;
const ID = body.dataset.id;
const IS_ADMIN = body.dataset.scope === "admin";
const main = document.getElementById("main");

// ---------- DOM ----------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
const link = (href, text) => h("a", { href }, text);
const card = (title, ...children) => h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
const notice = (text) => h("p", { class: "notice" }, text);
const unavailable = (what) =>
  h("p", { class: "notice unavailable", dataset: { unavailable: what } },
    `Not available on this server yet: ${what}.`);
const badge = (text, kind = "") => h("span", { class: `badge ${kind}` }, text);

// ---------- API ----------
class ApiError extends Error {
  constructor(status, detail, unavailableRoute, field = null) {
    super(detail);
    this.status = status;
    this.unavailable = unavailableRoute;
    this.field = field; // the request field a problem answer names
  }
}

async function api(path, { method = "GET", json } = {}) {
  const opts = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-Margin-CSRF": "1" },
  };
  if (json !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(json);
  }
  const res = await fetch(path, opts);
  if (res.status === 401) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, "signed out", false);
  }
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const detail = (data && data.detail) || res.statusText;
    // A route the server does not have answers FastAPI's bare "Not Found" (or 405): that is
    // an endpoint not shipped yet, unlike "no customer 'x'" from a route that exists.
    const missing = (res.status === 404 && detail === "Not Found") || res.status === 405;
    throw new ApiError(res.status, detail, missing, (data && data.field) || null);
  }
  return data;
}

// Run `fn`; on an endpoint the server lacks, show a "not available" note instead of failing.
const pending = [];
function section(target, what, fn) {
  const run = sectionRun(target, what, fn);
  pending.push(run);
  return run;
}
async function sectionRun(target, what, fn) {
  try {
    const out = await fn();
    // A section may return null parts (a note shown only sometimes): they are not text.
    target.replaceChildren(...[].concat(out).filter((x) => x !== null && x !== undefined && x !== false));
  } catch (err) {
    if (err instanceof ApiError && err.unavailable) target.replaceChildren(unavailable(what));
    else target.replaceChildren(h("p", { class: "error", role: "alert" }, `${what}: ${err.message}`));
  }
}

const qs = (params) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? "?" + s : "";
};
const listOf = (data) => (Array.isArray(data) ? data : data?.data || data?.items || []);
const when = (r) => r.ts ?? r.timestamp ?? null;

// Every page of a cursor-paged list, up to `cap` items (the list endpoints have no time filter:
// callers keep the rows of the period themselves).
async function fetchAll(path, params = {}, cap = 10000) {
  const out = [];
  let cursor = null;
  do {
    const page = await api(path + qs({ ...params, limit: 500, cursor }));
    out.push(...listOf(page));
    cursor = page.next_cursor;
  } while (cursor && out.length < cap);
  return out;
}
let namesCache = null;
// id -> display name of customers and agents, to label rows that carry only ids.
function partyNames() {
  namesCache ??= Promise.all(["customers", "agents"].map((k) => fetchAll(`/v1/${k}`, {}, 5000).catch(() => [])))
    .then(([cs, as]) => new Map([...cs, ...as].map((x) => [x.id, x.name || x.external_id])));
  return namesCache;
}

// ---------- exact decimals ----------
const SCALE = 1_000_000_000n;
function toNanos(value) {
  if (value === null || value === undefined || value === "") return null;
  const s = String(value).trim();
  const neg = s.startsWith("-");
  const [i, f = ""] = s.replace(/^[-+]/, "").split(".");
  const n = BigInt(i || "0") * SCALE + BigInt((f + "000000000").slice(0, 9));
  return neg ? -n : n;
}

// ---------- formatting ----------
// Money shown to people is rounded half-even to the currency's minor unit (Intl knows each
// currency's); the exact decimal string stays in data-amount and shows on hover. Prices
// (per token, per unit, per outcome) keep every digit they have.
const NOT_TRACKED = "Not tracked: the tracking mode leaves it out, or nothing that produces it has been recorded yet";
const fmtCache = new Map();
function moneyFormat(currency, exact) {
  const key = `${currency}|${exact}`;
  if (!fmtCache.has(key)) {
    const opts = { roundingMode: "halfEven" };
    if (currency) Object.assign(opts, { style: "currency", currency });
    else opts.maximumFractionDigits = 2;
    if (exact) opts.maximumFractionDigits = 9;
    let f;
    try {
      f = new Intl.NumberFormat(undefined, opts);
    } catch {
      f = new Intl.NumberFormat(undefined, { maximumFractionDigits: exact ? 9 : 2 });
    }
    fmtCache.set(key, f);
  }
  return fmtCache.get(key);
}
function fmtMoney(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "—";
  const f = moneyFormat(currency, false);
  const digits = f.resolvedOptions().maximumFractionDigits;
  const nanos = toNanos(amount);
  const half = 10n ** BigInt(9 - digits) / 2n;
  // Not zero, but less than the smallest coin: say so rather than show a zero.
  if (nanos !== 0n && (nanos < 0n ? -nanos : nanos) <= half) {
    const unit = f.format(digits ? `0.${"0".repeat(digits - 1)}1` : "1");
    return nanos > 0n ? `< ${unit}` : `> -${unit}`;
  }
  return f.format(String(amount));
}
const fmtPrice = (amount, currency) => (amount == null || amount === "" ? "—" : moneyFormat(currency, true).format(String(amount)));
const fmtInt = (n) => (n === null || n === undefined ? "—" : new Intl.NumberFormat().format(n));
function fmtPct(p) {
  if (p === null || p === undefined) return "—";
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(String(p)) + " %";
}
function fmtTime(iso) {
  if (!iso) return "—";
  // Times are RFC 3339 strings; a bare number is microseconds since the epoch.
  const d = typeof iso === "number" ? new Date(iso / 1000) : new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: period().tz });
}
const signClass = (s) => (s == null ? "" : String(s).startsWith("-") ? "neg" : toNanos(s) === 0n ? "" : "pos");
// {currency: amount} maps, as the API returns per-currency totals.
function moneyMap(m) {
  const e = Object.entries(m || {});
  return e.length ? e.map(([c, a], i) => [i ? " + " : "", money(a, c)]) : "—";
}
function money(amount, currency) {
  const title = amount == null ? NOT_TRACKED : `${amount} ${currency || ""}`.trim();
  return h("span", { class: "num", title, dataset: { amount: amount ?? "", currency: currency ?? "" } }, fmtMoney(amount, currency));
}
function price(amount, currency) {
  return h("span", { class: "num", title: amount == null ? null : `${amount} ${currency || ""}`.trim(), dataset: { amount: amount ?? "", currency: currency ?? "" } }, fmtPrice(amount, currency));
}

// ---------- period & time zone ----------
const BROWSER_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const DAY_MS = 86_400_000;
function todayIn(tz) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}
const addDays = (date, n) => new Date(Date.parse(date + "T00:00:00Z") + n * DAY_MS).toISOString().slice(0, 10);
const daysBetween = (a, b) => Math.round((Date.parse(b) - Date.parse(a)) / DAY_MS);
function offsetOf(date, tz) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
    .formatToParts(new Date(date + "T12:00:00Z"));
  const name = (parts.find((p) => p.type === "timeZoneName") || {}).value || "GMT";
  const m = name.match(/GMT([+-]\d{2}):?(\d{2})?/);
  return m ? `${m[1]}:${m[2] || "00"}` : "+00:00";
}
const startOf = (date, tz) => `${date}T00:00:00${offsetOf(date, tz)}`;

function period() {
  const p = new URLSearchParams(location.search);
  const stored = JSON.parse(localStorage.getItem("margin.period") || "{}");
  const tz = p.get("tz") || stored.tz || BROWSER_TZ;
  const range = p.get("range") || stored.range || "30d";
  const today = todayIn(tz);
  let from, to;
  if (range === "7d") [from, to] = [addDays(today, -6), addDays(today, 1)];
  else if (range === "month") [from, to] = [today.slice(0, 8) + "01", addDays(today, 1)];
  else if (range === "last-month") {
    const first = today.slice(0, 8) + "01";
    from = addDays(first, -1).slice(0, 8) + "01";
    to = first;
  } else if (range === "custom" && (p.get("from") || stored.from)) {
    from = p.get("from") || stored.from;
    to = addDays(p.get("to") || stored.to || today, 1);
  } else [from, to] = [addDays(today, -29), addDays(today, 1)];
  const days = daysBetween(from, to);
  return {
    range, tz, fromDate: from, toDate: to, days,
    from: startOf(from, tz), to: startOf(to, tz),
    priorFrom: startOf(addDays(from, -days), tz), priorTo: startOf(from, tz),
  };
}
function setPeriod(change) {
  const cur = period();
  const next = { range: cur.range, tz: cur.tz, ...change };
  if (next.range === "custom") {
    next.from = change.from || cur.fromDate;
    next.to = change.to || addDays(cur.toDate, -1);
  }
  localStorage.setItem("margin.period", JSON.stringify(next));
  location.search = qs(next);
}
function periodPicker() {
  const p = period();
  const presets = [["7d", "7 days"], ["30d", "30 days"], ["month", "This month"], ["last-month", "Last month"]];
  const from = h("input", { type: "date", value: p.fromDate, "aria-label": "From" });
  const to = h("input", { type: "date", value: addDays(p.toDate, -1), "aria-label": "To" });
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [p.tz];
  const tz = h("select", { "aria-label": "Time zone", onchange: (e) => setPeriod({ tz: e.target.value }) },
    [...new Set(["UTC", BROWSER_TZ, p.tz, ...zones])].map((z) => h("option", { value: z, selected: z === p.tz }, z)));
  return h("div", { class: "toolbar", id: "period" },
    h("div", { class: "seg", role: "group", "aria-label": "Period" },
      presets.map(([k, label]) => h("button", { type: "button", "aria-pressed": String(p.range === k), onclick: () => setPeriod({ range: k }) }, label))),
    h("span", { class: "toolbar" }, from, "–", to,
      h("button", { type: "button", class: "secondary", onclick: () => setPeriod({ range: "custom", from: from.value, to: to.value }) }, "Apply")),
    tz);
}

// ---------- tables ----------
// columns: [{key, label, num, render(row), value(row) for sorting}]
function dataTable(columns, rows, { filter = true, empty = "Nothing recorded in this period.", sort, id, page } = {}) {
  let sortKey = sort?.key, dir = sort?.dir || -1, query = "", limit = page || Infinity;
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => { limit += page; draw(); } }, "Show more");
  const tbody = h("tbody");
  const heads = columns.map((c) =>
    h("th", { class: `sortable ${c.num ? "num" : ""} ${c.hideSm ? "hide-sm" : ""}`, scope: "col", onclick: () => { dir = sortKey === c.key ? -dir : c.num ? -1 : 1; sortKey = c.key; draw(); } }, c.label));
  const valueOf = (c, r) => (c.value ? c.value(r) : r[c.key]);
  const cmp = (a, b) => {
    if (a == null) return 1;
    if (b == null) return -1;
    if (typeof a === "bigint" || typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === "number" ? a - b : String(a).localeCompare(String(b));
  };
  function draw() {
    heads.forEach((th, i) => th.setAttribute("aria-sort", columns[i].key === sortKey ? (dir > 0 ? "ascending" : "descending") : "none"));
    let shown = rows.filter((r) => !query || columns.some((c) => String(valueOf(c, r) ?? "").toLowerCase().includes(query)));
    if (sortKey) {
      const c = columns.find((x) => x.key === sortKey);
      shown = [...shown].sort((a, b) => {
        const va = valueOf(c, a), vb = valueOf(c, b);
        if (va == null || vb == null) return cmp(va, vb);
        return dir * cmp(va, vb);
      });
    }
    more.hidden = shown.length <= limit;
    more.textContent = `Show more (${fmtInt(shown.length - limit)} left)`;
    shown = shown.slice(0, limit);
    tbody.replaceChildren(...(shown.length ? shown.map((r) =>
      h("tr", {}, columns.map((c) => h("td", { class: `${c.num ? "num" : ""} ${c.hideSm ? "hide-sm" : ""}` }, c.render ? c.render(r) : r[c.key] ?? "—"))))
      : [h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty))]));
  }
  draw();
  const search = filter ? h("input", { type: "search", placeholder: "Filter…", "aria-label": "Filter", oninput: (e) => { query = e.target.value.toLowerCase(); draw(); } }) : null;
  return h("div", { class: "stack", id }, search, h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, heads)), tbody)), page ? h("div", {}, more) : null);
}
// A figure with its ⚠ when part of it has no exchange rate; a null it causes says so on hover.
function flagged(el, r, key) {
  const flag = fxFlag(r, key);
  if (flag && r[key] == null) el.title = flag.title;
  return flag ? [el, flag] : el;
}
const moneyCol = (key, label, opts = {}) => ({
  key, label, num: true, ...opts,
  value: (r) => toNanos(r[key]),
  render: (r) => h("span", { class: key === "profit" ? signClass(r[key]) : "" }, flagged(money(r[key], r.currency), r, key)),
});
const priceCol = (key, label, opts = {}) => ({
  key, label, num: true, ...opts,
  value: (r) => toNanos(r[key]),
  render: (r) => flagged(price(r[key], r.currency), r, key),
});
const marginCol = { key: "margin", label: "Margin", num: true, value: (r) => (r.margin == null ? null : toNanos(r.margin)), render: (r) => flagged(h("span", { class: signClass(r.margin), title: r.margin == null ? NOT_TRACKED : null }, fmtPct(r.margin)), r, "margin") };

// ---------- reports ----------
// Report rows carry `key` as {dimension: id} and `margin_pct`/`change_pct`; pages use a flat
// id and `margin`/`change`. Profit and margin are the API's, never worked out here (one number
// everywhere): a row without them (a party with nothing in the period) shows "—".
function flatRow(row) {
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
function seriesOf(points, tz) {
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
const localDate = (iso, tz) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: tz || "UTC", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
// GET /v1/reports/margin: rows per group (and window) with cost, revenue, profit, margin %.
async function marginReport(p, params) {
  const d = await api("/v1/reports/margin" + qs({ from: p.from, to: p.to, tz: p.tz, ...params }));
  return { ...d, rows: listOf(d.rows).map(flatRow), totals: listOf(d.totals).map(flatRow) };
}
async function overviewReport(p) {
  return normalizeOverview(await api("/v1/reports/overview" + qs({ from: p.from, to: p.to, tz: p.tz })));
}

// ---------- pages ----------
function pageHead(title, sub, ...right) {
  return h("div", { class: "head" }, h("div", {}, h("h1", {}, title), sub ? h("p", { class: "muted small", style: "margin:0" }, sub) : null), ...right);
}
// `flag`: the ⚠ of a figure part of which has no exchange rate (fx.js), beside the value.
function kpi(cls, label, amount, currency, delta, flag = null) {
  const exact = amount == null ? flag?.title || NOT_TRACKED : cls === "margin" ? `${amount} %` : `${amount} ${currency || ""}`.trim();
  return h("div", { class: `kpi ${cls}`, dataset: { kpi: cls } },
    h("div", { class: "label" }, label),
    h("div", { class: "value", title: exact, dataset: { amount: amount ?? "", currency: currency ?? "" } },
      cls === "margin" ? fmtPct(amount) : amount == null ? "—" : fmtMoney(amount, currency), flag),
    h("div", { class: "delta" }, delta ?? ""));
}
// Cost, revenue, profit and margin of one report row (a total, a party's row) as KPI cards;
// `marginNote(row)` under a known margin.
function figureKpis(t, marginNote) {
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
function costBreakdown(rows) {
  const max = rows.reduce((m, r) => (toNanos(r.cost) > m ? toNanos(r.cost) : m), 0n);
  return dataTable([
    { key: "label", label: "Name", render: (r) => [r.label, r.unpriced ? [" ", badge(`${fmtInt(r.unpriced)} unpriced`, "warn")] : null] },
    { key: "cost", label: "Cost", num: true, value: (r) => toNanos(r.cost), render: (r) => h("div", {}, money(r.cost, r.currency), fxFlag(r, "cost"),
      h("div", { class: "bar" }, h("span", { style: `width:${max ? Number((toNanos(r.cost) * 1000n) / max) / 10 : 0}%` }))) },
    { key: "records", label: "Calls", num: true, render: (r) => fmtInt(r.records) },
  ], rows, { filter: false, sort: { key: "cost", dir: -1 } });
}

// Cost per catalog model (the API groups a model's dated snapshots under it); the names as
// reported are inside each row.
function modelBreakdown(rows) {
  const max = rows.reduce((m, r) => (toNanos(r.cost) > m ? toNanos(r.cost) : m), 0n);
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
    { key: "cost", label: "Cost", num: true, value: (r) => toNanos(r.cost), render: (r) => h("div", {}, money(r.cost, r.currency), fxFlag(r, "cost"),
      h("div", { class: "bar" }, h("span", { style: `width:${max ? Number((toNanos(r.cost) * 1000n) / max) / 10 : 0}%` }))) },
    { key: "records", label: "Calls", num: true, render: (r) => fmtInt(r.records) },
  ], rows, { filter: false, empty: "No AI calls in this period." });
}

async function overviewPage() {
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
function drawSeries(chartEl, series) {
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

async function partyListPage(kind) {
  const p = period();
  const singular = kind === "customers" ? "customer" : "agent";
  const el = h("div", { id: `${kind}-table` }, h("p", { class: "muted" }, "Loading…"));
  const add = IS_ADMIN
    ? h("details", { class: "card", id: `add-${singular}` }, h("summary", {}, `Add a ${singular}`),
      h("div", { style: "margin-top:.75rem" }, partyForm(kind, null, (made) => { location.href = `/${kind}/${made.id}`; })))
    : null;
  main.replaceChildren(pageHead(kind === "customers" ? "Customers" : "Agents", `${p.fromDate} → ${addDays(p.toDate, -1)} · ${p.tz}`, periodPicker()), add || "", card(null, el));
  await section(el, `${kind} list`, async () => {
    const [parties, report] = await Promise.all([fetchAll(`/v1/${kind}`, {}, 5000), marginReport(p, { group_by: singular })]);
    const groups = report.rows;
    const byKey = new Map();
    for (const g of groups) if (g.key) (byKey.get(g.key) || byKey.set(g.key, []).get(g.key)).push(g);
    const rows = [];
    for (const party of parties) {
      for (const g of byKey.get(party.id) || [{}]) {
        rows.push(flatRow({ ...g, id: party.id, label: party.name || party.external_id, external_id: party.external_id, tracking_mode: party.tracking_mode, cost: g.cost ?? null, revenue: g.revenue ?? null }));
      }
    }
    const table = dataTable([
      { key: "label", label: singular, render: (r) => link(`/${kind}/${encodeURIComponent(r.id)}`, r.label) },
      { key: "external_id", label: "External id", hideSm: true, render: (r) => h("code", {}, r.external_id) },
      { key: "tracking_mode", label: "Tracking", hideSm: true, render: (r) => trackingBadge(r.tracking_mode) },
      moneyCol("cost", "Cost"), moneyCol("revenue", "Revenue"), moneyCol("profit", "Profit"), marginCol,
      { key: "signals", label: "Signals", num: true, hideSm: true, render: (r) => fmtInt(r.signals) },
      { key: "unpriced", label: "Unpriced", num: true, hideSm: true, render: (r) => (r.unpriced ? badge(fmtInt(r.unpriced), "warn") : "—") },
    ], rows, { sort: { key: "profit", dir: -1 } });
    return [fxWarning(rows.filter((r) => r.unconverted), report), table];
  });
}

async function partyDetailPage(kind) {
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
    ...(kind === "customers" ? [card("Credits & entitlements", customerControl(party))] : []));
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
function tracesTable(rows, empty = "No traces.") {
  return dataTable([
    { key: "trace_id", label: "Trace", render: (r) => link(`/traces/${r.trace_id || r.id}`, h("code", {}, String(r.trace_id || r.id).slice(0, 16) + "…")) },
    { key: "cost_tracing_signals", label: "Cost-tracing signals", num: true, render: (r) => fmtInt(r.cost_tracing_signals) },
    { key: "flagged", label: "", render: (r) => (r.flagged ? badge("flagged", "warn") : "") },
  ], rows, { filter: false, page: 10, empty });
}

async function signalsPage() {
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

async function tracePage() {
  main.replaceChildren(pageHead("Trace", ID), h("p", {}, link("/signals", "← signals & traces")), h("div", { id: "trace" }, h("p", { class: "muted" }, "Loading…")));
  await section(document.getElementById("trace"), "trace detail (GET /v1/traces/{trace_id})", async () => {
    const [t, names] = await Promise.all([api(`/v1/traces/${encodeURIComponent(ID)}`), partyNames()]);
    const attr = t.attribution || {};
    const costs = listOf(t.costs);
    const signals = listOf(t.signals);
    const spans = listOf(t.spans);
    const attributed = signals.find((s) => s.id === attr.signal_id);
    return [
      h("section", { class: "card", id: "attribution" }, h("h2", {}, "Attribution"),
        attr.signal_id
          ? h("p", {}, "Costs of this trace are attributed to signal ", h("code", { dataset: { signal: attr.signal_id } }, attr.event_name || attributed?.event_name || attr.signal_id),
            attributed?.customer_id ? [" of customer ", link(`/customers/${attributed.customer_id}`, names.get(attributed.customer_id) || attributed.customer_id)] : null,
            attributed?.agent_id ? [" by agent ", link(`/agents/${attributed.agent_id}`, names.get(attributed.agent_id) || attributed.agent_id)] : null, ".")
          : h("p", { class: "muted" }, "No cost-tracing signal: these costs are not attributed to an outcome."),
        h("dl", { class: "kv" },
          attr.reason ? [h("dt", {}, "Reason"), h("dd", { class: "reason" }, attr.reason)] : null,
          [h("dt", {}, "Attributed"), h("dd", {}, moneyMap(attr.attributed_cost))],
          [h("dt", {}, "Trace total"), h("dd", {}, moneyMap(attr.cost_total))],
          attr.unpriced ? [h("dt", {}, "Unpriced calls"), h("dd", {}, badge(fmtInt(attr.unpriced), "warn"))] : null),
        attr.flagged ? h("div", { class: "warning", style: "margin-top:.75rem" }, "⚠ Flagged: ", attr.flag_reason || "this trace holds several cost-tracing signals; the earliest wins so costs are counted once.") : null),
      card(`AI calls (${costs.length})`, dataTable([
        { key: "ts", label: "When", value: (r) => when(r), render: (r) => h("span", { class: "nowrap" }, fmtTime(when(r))) },
        { key: "model", label: "Model", render: (r) => h("span", {}, `${r.provider || "?"} / ${r.model || "?"}`) },
        { key: "usage", label: "Usage", hideSm: true, render: (r) => h("span", { class: "small" }, Object.entries(r.usage || {}).filter(([, v]) => v).map(([k, v]) => `${k.replace(/_tokens$/, "")} ${fmtInt(v)}`).join(" · ") || "—") },
        moneyCol("amount", "Cost"),
        { key: "priced_by", label: "Priced by", render: (r) => badge(r.priced_by || r.pricing?.priced_by || "?", (r.priced_by || r.pricing?.priced_by) === "unpriced" ? "warn" : "info") },
      ], costs, { filter: false, sort: { key: "ts", dir: 1 }, empty: "No costs in this trace." }),
      ),
      card(`Signals (${signals.length})`, dataTable([
        { key: "ts", label: "When", value: (r) => when(r), render: (r) => h("span", { class: "nowrap" }, fmtTime(when(r))) },
        { key: "event_name", label: "Signal", render: (r) => h("code", {}, r.event_name) },
        { key: "cost_tracing", label: "Cost tracing", render: (r) => (r.cost_tracing ? badge("on", "ok") : badge("off")) },
        { key: "id", label: "", render: (r) => (r.id === attr.signal_id ? badge("attributed", "ok") : "") },
      ], signals, { filter: false, empty: "No signals in this trace." })),
      spans.length ? h("section", { class: "card", id: "spans" }, h("h2", {}, `Spans (${spans.length})`), spanTree(spans, costs)) : null,
    ].filter(Boolean);
  });
}

async function invoicesPage() {
  const listEl = h("div", { id: "invoices-list" }, h("p", { class: "muted" }, "Loading…"));
  const msg = h("div", { role: "status" });
  const month = new Date().toISOString().slice(0, 7);
  const gen = IS_ADMIN
    ? h("form", { class: "inline", id: "generate", onsubmit: async (e) => {
        e.preventDefault();
        msg.replaceChildren(h("p", { class: "muted" }, "Generating…"));
        try {
          const out = await api("/v1/invoices/generate", { method: "POST", json: { period: e.target.period.value } });
          const made = listOf(out);
          msg.replaceChildren(h("p", { class: made.length ? "badge ok" : "muted" }, made.length
            ? `${fmtInt(made.length)} draft invoice(s) written for ${out.period || e.target.period.value}.`
            : "Nothing to invoice: no customer has an order with charges in this period."));
          loadList();
        } catch (err) {
          msg.replaceChildren(err.unavailable ? unavailable("invoice generation (POST /v1/invoices/generate)") : h("p", { class: "error" }, err.message));
        }
      } },
      h("label", {}, "Billing period", h("input", { name: "period", type: "month", value: month, required: true })),
      h("button", { class: "primary", type: "submit" }, "Generate drafts"))
    : h("p", { class: "muted small" }, "Sign in with an admin key to generate invoices.");
  main.replaceChildren(pageHead("Invoices", "Draft → finalized (immutable) → void"), card(null, gen, msg), card(null, listEl));
  function loadList() {
    section(listEl, "invoices (GET /v1/invoices)", async () => dataTable([
      { key: "number", label: "Invoice", value: (r) => r.number || r.id, render: (r) => link(`/invoices/${r.id}`, r.number || r.id) },
      { key: "customer", label: "Customer", value: (r) => r.customer?.name || r.customer_id, render: (r) => (r.customer_id ? link(`/customers/${r.customer_id}`, r.customer?.name || r.customer?.external_id || r.customer_id) : "—") },
      { key: "period", label: "Period" },
      { key: "status", label: "Status", render: (r) => statusBadge(r.status) },
      moneyCol("total", "Total"), moneyCol("cost", "AI cost", { hideSm: true }),
      { key: "margin_pct", label: "Margin", num: true, value: (r) => (r.margin_pct == null ? null : toNanos(r.margin_pct)), render: (r) => h("span", { class: signClass(r.margin_pct) }, fmtPct(r.margin_pct)) },
    ], listOf(await api("/v1/invoices?limit=1000")).reverse(), { empty: "No invoices yet. Generate drafts for a billing period above." }));
  }
  loadList();
}
const printable = (inv) => [
  h("a", { href: `/v1/invoices/${inv.id}.html`, target: "_blank", rel: "noopener", id: "printable" }, "Printable invoice ↗"),
  h("a", { href: `/v1/invoices/${inv.id}.html?internal=true`, target: "_blank", rel: "noopener" }, "with AI cost & margin ↗"),
  h("a", { href: `/v1/invoices/${inv.id}.pdf`, download: `${inv.number || inv.id}.pdf`, id: "pdf" }, "Download PDF"),
];
const statusBadge = (s) => badge(s || "?", s === "finalized" ? "ok" : s === "void" ? "bad" : "info");

async function invoicePage() {
  const el = h("div", { id: "invoice" }, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(pageHead("Invoice", ID), h("p", {}, link("/invoices", "← all invoices")), el);
  const load = () => section(el, "invoice (GET /v1/invoices/{id})", async () => {
    const inv = await api(`/v1/invoices/${encodeURIComponent(ID)}`);
    const cur = inv.currency;
    const msg = h("div", { role: "status" });
    const act = async (path, json) => {
      try { await api(path, { method: "POST", json }); load(); } catch (err) { msg.replaceChildren(h("p", { class: "error" }, err.message)); }
    };
    const who = inv.customer?.name || inv.customer?.external_id || inv.customer_id;
    const total = fmtMoney(inv.total, cur);
    const finalize = async () => {
      const ok = await confirmDialog({ title: "Finalize this invoice?", action: "Finalize",
        message: `${who} · ${inv.period} · ${total}. A finalized invoice is numbered and can never change again; it can only be voided.` });
      if (ok) act(`/v1/invoices/${inv.id}/finalize`, {});
    };
    const voidIt = async () => {
      const ok = await confirmDialog({ title: "Void this invoice?", action: "Void invoice", reason: "Reason (kept with the invoice)",
        message: `${inv.number || "This draft"} · ${who} · ${total}. Voiding cannot be undone.` });
      if (ok) act(`/v1/invoices/${inv.id}/void`, { reason: ok.reason });
    };
    const actions = IS_ADMIN ? h("div", { class: "toolbar", id: "actions" },
      inv.status === "draft" ? h("button", { class: "primary", onclick: finalize }, "Finalize") : null,
      inv.status !== "void" ? h("button", { class: "danger", onclick: voidIt }, "Void") : null,
      printable(inv)) : h("div", { class: "toolbar" }, printable(inv));
    document.querySelector("h1").textContent = inv.number ? `Invoice ${inv.number}` : "Draft invoice";
    return [
      h("div", { class: "kpis" },
        h("div", { class: "kpi", dataset: { kpi: "status" } }, h("div", { class: "label" }, "Status"), h("div", { class: "value", id: "status" }, inv.status),
          h("div", { class: "delta" }, link(`/customers/${inv.customer_id}`, who), ` · ${inv.period}`)),
        kpi("revenue", "Total", inv.total, cur, inv.number || "not numbered until finalized"),
        kpi("cost", "AI cost (internal)", inv.cost, cur, "seller only"),
        kpi("margin", "Margin", inv.margin_pct, null, inv.margin == null ? "" : fmtMoney(inv.margin, cur))),
      card(null, actions, msg),
      card("Lines", dataTable([
        { key: "description", label: "Description", render: (r) => [r.description || r.key || r.type || "—", r.type ? [" ", badge(r.type)] : null] },
        { key: "quantity", label: "Qty", num: true, render: (r) => (r.quantity == null ? "—" : new Intl.NumberFormat().format(r.quantity)) },
        { key: "unit_price", label: "Unit price", num: true, hideSm: true, render: (r) => price(r.unit_price, cur) },
        { key: "amount", label: "Amount", num: true, value: (r) => toNanos(r.amount), render: (r) => money(r.amount, cur) },
        { key: "cost", label: "AI cost", num: true, hideSm: true, value: (r) => toNanos(r.cost), render: (r) => money(r.cost, cur) },
      ], listOf(inv.lines), { filter: false, empty: "No lines." })),
      card("Details", h("dl", { class: "kv" }, ["id", "number", "customer_id", "currency", "period_start", "period_end", "as_of", "finalized_at", "voided_at", "void_reason"]
        .filter((k) => inv[k] != null).flatMap((k) => [h("dt", {}, k.replace(/_/g, " ")), h("dd", {}, String(inv[k]))]))),
    ];
  });
  load();
}

async function pricesPage() {
  const quoteEl = h("div", { id: "quote" }), catalogEl = h("div", { id: "catalog" }), overridesEl = h("div", { id: "overrides" });
  const msg = h("div", { role: "status" });
  const params = new URLSearchParams(location.search);
  const form = h("form", { class: "inline", id: "quote-form", onsubmit: (e) => { e.preventDefault(); refresh(); } },
    h("label", {}, "Provider", h("input", { name: "provider", value: params.get("provider") || "openai", size: 10 })),
    h("label", {}, "Model", h("input", { name: "model", value: params.get("model") || "gpt-4o-mini", required: true, size: 18 })),
    h("label", {}, "Input tokens", h("input", { name: "input_tokens", type: "number", min: 0, value: 1000000, size: 10 })),
    h("label", {}, "Output tokens", h("input", { name: "output_tokens", type: "number", min: 0, value: 1000000, size: 10 })),
    h("button", { class: "primary" }, "Quote"));
  const ovForm = IS_ADMIN ? h("form", { class: "inline", id: "override-form", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target;
      const body = { provider: form.provider.value || "*", model: form.model.value, currency: f.currency.value,
        prices: { input: f.input.value, output: f.output.value } };
      if (f.note.value) body.note = f.note.value;
      if (f.effective_from.value) body.effective_from = f.effective_from.value + "T00:00:00Z";
      try {
        await api("/v1/prices", { method: "POST", json: body });
        msg.replaceChildren(h("p", { class: "badge ok" }, "Override saved: new costs of this model are priced with it."));
        refresh();
      } catch (err) {
        msg.replaceChildren(err.unavailable ? unavailable("setting an override (POST /v1/prices)") : h("p", { class: "error", role: "alert" }, err.message));
      }
    } },
    h("label", {}, "Input / M tokens", h("input", { name: "input", required: true, inputmode: "decimal", size: 8, placeholder: "decimal" })),
    h("label", {}, "Output / M tokens", h("input", { name: "output", required: true, inputmode: "decimal", size: 8, placeholder: "decimal" })),
    h("label", {}, "Currency", h("input", { name: "currency", value: "USD", size: 4, pattern: "[A-Z]{3}" })),
    h("label", {}, "Effective from", h("input", { name: "effective_from", type: "date" })),
    h("label", {}, "Note", h("input", { name: "note", size: 16, placeholder: "optional" })),
    h("button", { class: "primary" }, "Set override"))
    : h("p", { class: "muted small" }, "Sign in with an admin key to set a negotiated price.");
  main.replaceChildren(pageHead("Prices", "The catalog price of a model, your negotiated overrides, and what a call costs"),
    card("Quote a model", form, quoteEl),
    h("div", { class: "grid" }, card("Catalog price", catalogEl), card("Set a tenant override for this model", ovForm, msg)),
    h("div", { style: "margin-top:1rem" }, card("All overrides", overridesEl)));
  const which = () => ({ provider: form.provider.value || undefined, model: form.model.value });
  function quote() {
    return section(quoteEl, "price quotes (GET /v1/prices/quote)", async () => {
      const q = await api("/v1/prices/quote" + qs({ ...which(), input_tokens: form.input_tokens.value, output_tokens: form.output_tokens.value }));
      return h("dl", { class: "kv", style: "margin-top:1rem" },
        h("dt", {}, "Cost"), h("dd", { id: "quote-amount" }, money(q.amount, q.currency)),
        h("dt", {}, "Priced by"), h("dd", { id: "quote-source" }, badge(q.priced_by || "?", q.priced_by === "override" ? "ok" : q.priced_by === "unpriced" ? "warn" : "info")),
        q.price_ref ? [h("dt", {}, "Price"), h("dd", {}, h("code", {}, q.price_ref))] : null,
        q.unpriced_reason ? [h("dt", {}, "Why unpriced"), h("dd", {}, q.unpriced_reason)] : null);
    });
  }
  function catalog() {
    return section(catalogEl, "catalog view (GET /v1/prices/catalog)", async () => {
      let c;
      try {
        c = await api("/v1/prices/catalog" + qs(which()));
      } catch (err) {
        if (err.status === 404 && !err.unavailable) return h("p", { class: "warning" }, `Not in the catalog: ${err.message}. Set an override to price it.`);
        throw err;
      }
      const per = (n) => (n === 1000000 ? "per 1M tokens" : n === 1 ? "per unit" : `per ${fmtInt(n)}`);
      return [
        h("p", { class: "muted small" }, `${c.ref} · catalog ${c.catalog} · at ${fmtTime(c.at)}`),
        dataTable([
          { key: "kind", label: "Usage kind", render: (r) => h("code", {}, r.kind) },
          { key: "price", label: "Price", num: true, value: (r) => toNanos(r.price), render: (r) => price(r.price, c.currency) },
          { key: "per", label: "", render: (r) => h("span", { class: "muted small" }, per(r.per), r.tiers?.length ? " · tiered" : "") },
        ], listOf(c.prices), { filter: false, empty: "No prices." }),
        listOf(c.overrides).length ? h("p", { class: "badge ok" }, `${listOf(c.overrides).length} tenant override(s) in force for this model`) : null,
      ];
    });
  }
  function loadOverrides() {
    return section(overridesEl, "overrides (GET /v1/prices)", async () => dataTable([
      { key: "model", label: "Model", render: (r) => h("span", {}, `${r.provider} / `, h("code", {}, r.model)) },
      { key: "prices", label: "Prices (per 1M tokens)", render: (r) => Object.entries(r.prices || {}).map(([k, v]) => `${k} ${fmtPrice(v, r.currency)}`).join(" · ") || "—" },
      { key: "effective_from", label: "From", render: (r) => h("span", { class: "nowrap" }, fmtTime(r.effective_from)) },
      { key: "note", label: "Note", hideSm: true, render: (r) => r.note || "" },
      ...(IS_ADMIN ? [{ key: "id", label: "", render: (r) => h("button", { class: "danger", type: "button", onclick: async () => {
        const ok = await confirmDialog({ title: "Delete this override?", action: "Delete override",
          message: `${r.provider} / ${r.model}: new costs of this model will be priced by the catalog again.` });
        if (!ok) return;
        try { await api(`/v1/prices/${r.id}`, { method: "DELETE" }); refresh(); } catch (err) { msg.replaceChildren(h("p", { class: "error" }, err.message)); }
      } }, "Delete") }] : []),
    ], listOf(await api("/v1/prices?limit=1000")), { filter: false, empty: "No overrides: the catalog applies." }));
  }
  function refresh() {
    return Promise.all([quote(), catalog(), loadOverrides()]);
  }
  await refresh();
}

// The control plane: fired alerts and their rules, webhook endpoints and the delivery log.
async function controlPage() {
  const alertsEl = h("div", { id: "alerts" }), rulesEl = h("div", { id: "alert-rules" });
  const endpointsEl = h("div", { id: "webhook-endpoints" }), logEl = h("div", { id: "webhook-log" });
  main.replaceChildren(pageHead("Control", "Alerts, alert rules and webhooks (docs/control.md)"),
    card("Alerts", alertsEl), card("Alert rules", rulesEl),
    card("Webhook endpoints", endpointsEl), card("Webhook deliveries", logEl));
  section(alertsEl, "alerts (GET /v1/alerts)", async () => dataTable([
    { key: "rule", label: "Rule" }, { key: "party", label: "Party" },
    { key: "threshold", label: "Threshold" }, { key: "value", label: "Value" },
    { key: "state", label: "State", render: (r) => badge(r.state, r.state === "resolved" ? "ok" : "bad") },
    { key: "triggered_at", label: "Triggered", render: (r) => fmtTime(r.triggered_at) },
  ], listOf(await api("/v1/alerts")), { empty: "No alert has fired." }));
  section(rulesEl, "alert rules (GET /v1/alerts/rules)", async () => dataTable([
    { key: "name", label: "Name" }, { key: "metric", label: "Metric" }, { key: "per", label: "Per" },
    { key: "direction", label: "When" }, { key: "thresholds", label: "Thresholds", value: (r) => r.thresholds.join(", ") },
    { key: "period", label: "Period", value: (r) => `${r.period} · ${r.time_zone}` },
  ], listOf(await api("/v1/alerts/rules")), { empty: "No alert rules." }));
  section(endpointsEl, "webhook endpoints (GET /v1/webhooks/endpoints)", async () => dataTable([
    { key: "url", label: "URL" }, { key: "event_types", label: "Events", value: (r) => r.event_types.join(", ") },
    { key: "enabled", label: "State", render: (r) => badge(r.enabled ? "enabled" : "disabled", r.enabled ? "ok" : "bad") },
    { key: "failure_streak", label: "Failures in a row", num: true },
  ], listOf(await api("/v1/webhooks/endpoints")), { empty: "No webhook endpoints." }));
  section(logEl, "webhook deliveries (GET /v1/webhooks/deliveries)", async () => dataTable([
    { key: "event_type", label: "Event" }, { key: "message_id", label: "Message" },
    { key: "status", label: "Status", render: (r) => badge(r.status, r.status === "delivered" ? "ok" : r.status === "pending" ? "info" : "bad") },
    { key: "attempts", label: "Attempts", num: true },
    { key: "last_status_code", label: "Last answer", value: (r) => (r.last_status_code == null ? "—" : String(r.last_status_code)) },
    { key: "created_at", label: "Created", render: (r) => fmtTime(r.created_at) },
  ], listOf(await api("/v1/webhooks/deliveries")), { empty: "Nothing delivered yet." }));
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

const PAGES = {
  overview: overviewPage,
  customers: () => partyListPage("customers"),
  customer: () => partyDetailPage("customers"),
  agents: () => partyListPage("agents"),
  agent: () => partyDetailPage("agents"),
  signals: signalsPage,
  trace: tracePage,
  invoices: invoicesPage,
  invoice: invoicePage,
  prices: pricesPage,
  simulate: () => import("./simulate.js").then((m) => m.default()),
  plans: plansPage,
  orders: ordersPage,
  meters: metersPage,
  keys: keysPage,
  control: controlPage,
};

// Queue mode: how far the writers are behind (GET /v1/health), in the footer.
async function queueLag() {
  const res = await fetch("/v1/health", { headers: { Accept: "application/json" } });
  const health = res.ok ? await res.json() : {};
  const q = health.queue;
  if (health.mode !== "queue" || !q) return;
  const text = q.status === "unreachable" ? "ingest queue unreachable"
    : `ingest queue: ${q.messages} waiting (${Math.round(q.seconds)} s behind), ${q.dead_letters} dead letters`;
  document.querySelector(".foot")?.append(h("span", { class: "queue-lag" }, ` · ${text}`));
}

(async () => {
  try {
    queueLag().catch(() => {});
    await PAGES[PAGE]();
    // Sections load in parallel; the page is ready once every one has settled.
    for (let i = 0; i < pending.length; i++) await pending[i].catch(() => {});
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) main.append(h("p", { class: "error", role: "alert" }, err.message));
  } finally {
    body.dataset.ready = "1"; // tests and screenshots wait for this
  }
})();

// Helpers for page modules loaded on demand (simulate.js) and the management pages (manage.js).
export {
  h, link, card, badge, notice, api, listOf, fetchAll, dataTable, pageHead, fmtTime, fmtMoney,
  moneyFormat, money, price, confirmDialog, partyNames, IS_ADMIN, main, section,
  fmtPct, kpi, signClass, toNanos, unavailable, flatRow,
};
