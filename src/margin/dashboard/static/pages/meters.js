// Meters: usage counted from raw events, for usage charges (billable) or spend (cost).
import { api, listOf, section } from "../lib/api.js";
import { confirmDialog } from "../lib/dialog.js";
import { badge, card, h, IS_ADMIN, main, pageHead } from "../lib/dom.js";
import { price } from "../lib/format.js";
import { adminOnly, field, input, manageTabs, select, submit, values } from "../lib/forms.js";
import { dataTable } from "../lib/table.js";

const AGGREGATIONS = ["sum", "count", "unique_count", "avg", "min", "max", "latest"].map((a) => [a, a]);
export async function metersPage() {
  const listEl = h("div", { id: "meters-list" }, h("p", { class: "muted" }, "Loading…"));
  const status = h("div", { role: "status", id: "meter-status" });
  let editing = null;
  const form = h("form", { class: "inline", id: "meter-form", onsubmit: (e) => {
    e.preventDefault();
    const body = values(form, ["key", "name", "event_type", "value_property", "aggregation", "kind", "unit_cost", "currency"]);
    if (editing) body.key = editing;
    submit(form, status, () => api(editing ? `/v1/meters/${editing}` : "/v1/meters", { method: editing ? "PUT" : "POST", json: body }),
      (m) => { const was = editing; reset(); load(); return was ? `Meter ${m.key} saved.` : `Meter ${m.key} created.`; });
  } },
  field("Key", input("key", { required: true, size: 12 })), field("Name", input("name", { size: 14 })),
  field("Event type", input("event_type", { required: true, size: 14 })),
  field("Aggregation", select("aggregation", AGGREGATIONS, "count")),
  field("Value property", input("value_property", { size: 14, placeholder: "$.tokens" }), "for sum, avg…"),
  field("Kind", select("kind", [["billable", "billable"], ["cost", "cost (your spend)"]], "billable")),
  field("Unit cost", input("unit_cost", { inputmode: "decimal", size: 8, placeholder: "cost meters" })),
  field("Currency", input("currency", { size: 4, placeholder: "USD" })),
  h("button", { class: "primary", type: "submit" }, "Save meter"),
  h("button", { class: "secondary", type: "button", onclick: () => reset() }, "Clear"));
  function reset() {
    editing = null;
    form.reset();
    form.elements.key.disabled = false;
  }
  function edit(m) {
    editing = m.key;
    for (const k of ["key", "name", "event_type", "value_property", "aggregation", "kind", "unit_cost", "currency"]) form.elements[k].value = m[k] ?? "";
    form.elements.key.disabled = true;
    form.scrollIntoView({ block: "center" });
  }
  async function remove(m) {
    const ok = await confirmDialog({ title: `Delete meter ${m.key}?`, action: "Delete meter", message: "Its events stay; plans that charge on it can no longer be invoiced until it is made again." });
    if (!ok) return;
    try {
      await api(`/v1/meters/${m.key}`, { method: "DELETE" });
      await load();
      status.replaceChildren(h("p", { class: "badge ok" }, `Meter ${m.key} deleted.`));
    } catch (err) {
      status.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
    }
  }
  main.replaceChildren(pageHead("Meters", "Usage counted from raw events: what usage charges bill and cost meters cost"), manageTabs("meters"),
    card("Meters", listEl), card("Create or edit a meter", IS_ADMIN ? [form, status] : adminOnly("manage meters")));
  function load() {
    return section(listEl, "meters (GET /v1/meters)", async () => dataTable([
      { key: "key", label: "Key", render: (r) => h("code", {}, r.key) },
      { key: "name", label: "Name", render: (r) => r.name || "—" },
      { key: "event_type", label: "Event type", render: (r) => h("code", {}, r.event_type) },
      { key: "aggregation", label: "Aggregation", render: (r) => [r.aggregation, r.value_property ? [" of ", h("code", {}, r.value_property)] : null] },
      { key: "kind", label: "Kind", render: (r) => badge(r.kind, r.kind === "cost" ? "warn" : "info") },
      { key: "unit_cost", label: "Unit cost", num: true, render: (r) => price(r.unit_cost, r.currency) },
      ...(IS_ADMIN ? [{ key: "id", label: "", render: (r) => h("span", { class: "toolbar" },
        h("button", { type: "button", class: "secondary", onclick: () => edit(r) }, "Edit"),
        h("button", { type: "button", class: "danger", onclick: () => remove(r) }, "Delete")) }] : []),
    ], listOf(await api("/v1/meters")), { empty: "No meters yet." }));
  }
  await load();
}
