// Sortable, filterable tables, and the columns of money, prices and margins.
import { h } from "./dom.js";
import { fmtInt, fmtPct, money, NOT_TRACKED, price, signClass, toNanos } from "./format.js";
import { fxFlag } from "./fx.js";

// columns: [{key, label, num, render(row), value(row) for sorting}]
export function dataTable(columns, rows, { filter = true, empty = "Nothing recorded in this period.", sort, id, page } = {}) {
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
export function flagged(el, r, key) {
  const flag = fxFlag(r, key);
  if (flag && r[key] == null) el.title = flag.title;
  return flag ? [el, flag] : el;
}
export const moneyCol = (key, label, opts = {}) => ({
  key, label, num: true, ...opts,
  value: (r) => toNanos(r[key]),
  render: (r) => h("span", { class: key === "profit" ? signClass(r[key]) : "" }, flagged(money(r[key], r.currency), r, key)),
});
export const priceCol = (key, label, opts = {}) => ({
  key, label, num: true, ...opts,
  value: (r) => toNanos(r[key]),
  render: (r) => flagged(price(r[key], r.currency), r, key),
});
export const marginCol = { key: "margin", label: "Margin", num: true, value: (r) => (r.margin == null ? null : toNanos(r.margin)), render: (r) => flagged(h("span", { class: signClass(r.margin), title: r.margin == null ? NOT_TRACKED : null }, fmtPct(r.margin)), r, "margin") };
