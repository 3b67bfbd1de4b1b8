// One trace: which signal its costs are attributed to, its AI calls, signals and span tree.
import { api, listOf, partyNames, section, when } from "../lib/api.js";
import { badge, card, h, ID, link, main, pageHead } from "../lib/dom.js";
import { fmtInt, fmtTime, moneyMap } from "../lib/format.js";
import { spanTree } from "../lib/spans.js";
import { dataTable, moneyCol } from "../lib/table.js";

export async function tracePage() {
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
