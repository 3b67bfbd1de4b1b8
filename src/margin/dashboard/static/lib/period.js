// The period a page shows (a preset or custom dates, in a time zone), kept in the URL and
// in localStorage so it follows people from page to page, and its picker.
import { h } from "./dom.js";
import { qs } from "./api.js";

const BROWSER_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const DAY_MS = 86_400_000;
function todayIn(tz) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}
export const addDays = (date, n) => new Date(Date.parse(date + "T00:00:00Z") + n * DAY_MS).toISOString().slice(0, 10);
const daysBetween = (a, b) => Math.round((Date.parse(b) - Date.parse(a)) / DAY_MS);
function offsetOf(date, tz) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
    .formatToParts(new Date(date + "T12:00:00Z"));
  const name = (parts.find((p) => p.type === "timeZoneName") || {}).value || "GMT";
  const m = name.match(/GMT([+-]\d{2}):?(\d{2})?/);
  return m ? `${m[1]}:${m[2] || "00"}` : "+00:00";
}
const startOf = (date, tz) => `${date}T00:00:00${offsetOf(date, tz)}`;

export function period() {
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
export function periodPicker() {
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

export const localDate = (iso, tz) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: tz || "UTC", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
