// Figures a report could not convert into the reporting currency: no exchange rate applies to
// their date. The API keeps them apart (`unconverted` on the row and in the totals, in their
// own currency), leaves them out of the converted cost and revenue, and answers the profit and
// margin they touch as null: unknown, which is not the "—" of a figure a tracking mode leaves
// out. These helpers flag them wherever such a figure is shown.
import { h } from "./dom.js";

export const NO_RATE = "no exchange rate";
const HOW = "Add the rate with “margin fx set” (PUT /v1/exchange-rates/{base}/{quote}/{date}).";

// What of `row` has no rate, for `key`: the cost it leaves out (for "cost", "cost_per_outcome"),
// the revenue (likewise), or for a figure made from both (profit, margin) all of it.
function missing(row, key) {
  const list = row?.unconverted || [];
  const of = ["cost", "revenue"].filter((k) => !key.startsWith("cost") && !key.startsWith("revenue") || key.startsWith(k));
  return list.flatMap((u) => of.filter((k) => u[k] != null).map((k) => [u, k]));
}

// "2 USD of cost has no exchange rate for its date — left out; profit and margin unknown. …"
export function unconvertedText(row, key = "profit") {
  const parts = missing(row, key);
  if (!parts.length) return null;
  const what = parts.map(([u, k]) => `${u[k]} ${u.currency} of ${k}`).join(" and ");
  const verb = parts.length > 1 ? "have no exchange rate for their date" : "has no exchange rate for its date";
  return `${what} ${verb} — left out; profit and margin unknown. ${HOW}`;
}

// A ⚠ beside a figure part of which could not be converted (or that is unknown for it), saying
// what is missing on hover; null when nothing is.
export function fxFlag(row, key) {
  const text = unconvertedText(row, key);
  if (!text) return null;
  // A figure made from the missing ones is flagged only when the API left it unknown.
  if (key !== "cost" && key !== "revenue" && row[key] != null) return null;
  return h("span", { class: "fx-flag", title: text, role: "img", "aria-label": text, dataset: { unconverted: key } }, " ⚠");
}

// Why a null profit or margin is null: no rate, when that is the reason; else `otherwise`.
export const nullReason = (row, otherwise) => (row?.unconverted?.length ? NO_RATE : otherwise);

// One warning line per row of `rows` with figures that have no rate (a report's totals, or a
// party's rows), naming the dates without a rate from the report's `rates`.
export function fxWarning(rows, report) {
  const flagged = rows.filter((r) => r.unconverted?.length);
  if (!flagged.length) return null;
  const into = report?.currency ? ` into ${report.currency}` : "";
  const dates = (c) => (report?.rates || []).filter((x) => x.currency === c && x.rate == null).map((x) => x.date);
  // A long list would bury the page: the first few, then the ⚠ in the table tell the rest.
  const more = flagged.length > 3 ? h("p", { class: "muted small" }, `…and ${flagged.length - 3} more, marked ⚠ below.`) : null;
  return h("div", { id: "unconverted" }, flagged.slice(0, 3).map((r) => {
    const parts = missing(r, "profit");
    const what = parts.map(([u, k]) => `${u[k]} ${u.currency} of ${k}`).join(" and ");
    const when = r.unconverted.map((u) => (dates(u.currency).length ? `${u.currency} on ${dates(u.currency).join(", ")}` : u.currency)).join("; ");
    return h("div", { class: "warning", dataset: { warning: "unconverted" } },
      `⚠ ${r.label ? r.label + ": " : ""}${what} ${parts.length > 1 ? "have" : "has"} no exchange rate${into} (${when}) — `,
      `left out of the figures; the profit and margin ${parts.length > 1 ? "they touch" : "it touches"} are unknown. ${HOW}`);
  }), more);
}

// Under a daily chart: the days whose line leaves out figures without a rate.
export function seriesNote(days) {
  return days?.length
    ? h("p", { class: "muted small chart-note", dataset: { warning: "unconverted-days" } }, `⚠ Part of the figures of ${days.join(", ")} has ${NO_RATE}: the line has no point there.`)
    : null;
}
