// A trace's spans as a tree with timing.
import { badge, h } from "./dom.js";
import { fmtMoney, fmtTime } from "./format.js";

// Microseconds since the epoch from an RFC 3339 time (Date.parse keeps milliseconds only).
function micros(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  if (isNaN(ms)) return null;
  const frac = (String(iso).match(/\.(\d+)/) || [, ""])[1];
  return ms * 1000 + Number((frac + "000000").slice(3, 6));
}
function fmtDuration(us) {
  if (us == null) return "—";
  if (us < 1000) return `${us} µs`;
  if (us < 1_000_000) return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(us / 1000)} ms`;
  return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 }).format(us / 1_000_000)} s`;
}
// Spans as a tree (children under their parent, in start order) with a timeline bar each:
// where in the trace it ran and for how long. The AI calls priced for a span are named on it.
export function spanTree(spans, costs) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  for (const s of spans) {
    const parent = s.parent_span_id && ids.has(s.parent_span_id) ? s.parent_span_id : null;
    (children.get(parent) || children.set(parent, []).get(parent)).push(s);
  }
  for (const list of children.values()) list.sort((a, b) => (micros(a.start) ?? 0) - (micros(b.start) ?? 0));
  const starts = spans.map((s) => micros(s.start)).filter((x) => x != null);
  const ends = spans.map((s) => micros(s.end) ?? micros(s.start)).filter((x) => x != null);
  const t0 = Math.min(...starts), total = Math.max(1, Math.max(...ends) - t0);
  const costsOf = new Map();
  for (const c of costs) if (c.span_id) (costsOf.get(c.span_id) || costsOf.set(c.span_id, []).get(c.span_id)).push(c);
  const rows = [];
  const walk = (span, depth, seen) => {
    if (seen.has(span.span_id)) return; // a malformed parent loop is shown once
    seen.add(span.span_id);
    const start = micros(span.start), end = micros(span.end);
    const dur = start != null && end != null ? Math.max(0, end - start) : null;
    const left = start == null ? 0 : ((start - t0) / total) * 100;
    const width = dur == null ? 0 : (dur / total) * 100;
    const failed = /error/i.test(String(span.status || ""));
    rows.push(h("div", { class: `span-row${failed ? " error" : ""}`, dataset: { span: span.span_id, depth: String(depth), durationUs: dur ?? "" } },
      h("div", { class: "span-name", style: `padding-left:${depth * 1.1}rem`, title: `${span.name || span.span_id} · ${span.kind || ""} · ${span.span_id}` },
        depth ? h("span", { class: "muted", "aria-hidden": "true" }, "└ ") : null, h("b", {}, span.name || span.span_id),
        (costsOf.get(span.span_id) || []).map((c) => [" ", badge(`${c.model || "cost"} ${fmtMoney(c.amount, c.currency)}`, c.amount == null ? "warn" : "info")]),
        failed ? [" ", badge("error", "bad")] : null),
      h("div", { class: "span-track", "aria-hidden": "true" }, h("span", { style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%` })),
      h("div", { class: "span-dur small" }, fmtDuration(dur))));
    for (const child of children.get(span.span_id) || []) walk(child, depth + 1, seen);
  };
  const seen = new Set();
  for (const root of children.get(null) || []) walk(root, 0, seen);
  for (const s of spans) walk(s, 0, seen); // spans in a cycle have no root: still shown
  return h("div", { class: "spans" }, h("p", { class: "muted small", style: "margin:0 0 .4rem" }, `Trace duration ${fmtDuration(total)} · from ${fmtTime(spans.find((s) => micros(s.start) === t0)?.start)}`), rows);
}
