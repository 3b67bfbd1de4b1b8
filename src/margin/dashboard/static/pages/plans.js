// Plans: what customers pay (per outcome, recurring fees, usage, a minimum) and a new plan.
import { api, listOf, section } from "../lib/api.js";
import { card, h, IS_ADMIN, main, pageHead } from "../lib/dom.js";
import { money, price } from "../lib/format.js";
import { adminOnly, cell, field, input, manageTabs, repeater, submit, values } from "../lib/forms.js";
import { dataTable } from "../lib/table.js";

export async function plansPage() {
  const listEl = h("div", { id: "plans-list" }, h("p", { class: "muted" }, "Loading…"));
  const status = h("div", { role: "status" });
  const outcomes = repeater("outcome", (o) => [cell("event_name", { placeholder: "event name", value: o.event_name ?? "", size: 16 }), cell("price", { placeholder: "price", inputmode: "decimal", size: 8 })], {});
  const fees = repeater("fee", () => [cell("key", { placeholder: "key", size: 10 }), cell("name", { placeholder: "name", size: 14 }), cell("amount", { placeholder: "amount", inputmode: "decimal", size: 8 }),
    h("select", { dataset: { key: "interval" }, "aria-label": "interval" }, h("option", { value: "monthly" }, "monthly"), h("option", { value: "yearly" }, "yearly"))]);
  const form = h("form", { class: "stack", id: "new-plan", onsubmit: (e) => {
    e.preventDefault();
    const body = { ...values(form, ["key", "name", "currency", "agent", "minimum"]), outcomes: outcomes.read(), fees: fees.read() };
    const usage = form.elements.usage.value.trim();
    try {
      if (usage) body.usage = JSON.parse(usage);
    } catch {
      status.replaceChildren(h("p", { class: "error", role: "alert" }, "Usage charges: not valid JSON."));
      return;
    }
    submit(form, status, () => api("/v1/plans", { method: "POST", json: body }), (p) => { load(); return `Plan ${p.key} created.`; });
  } },
  h("div", { class: "inline" }, field("Key", input("key", { required: true, size: 12, pattern: "[a-z0-9][a-z0-9_.\\-]*" })), field("Name", input("name", { size: 18 })),
    field("Currency", input("currency", { required: true, value: "USD", size: 4 })), field("Agent", input("agent", { size: 12, placeholder: "any" }), "external id"),
    field("Minimum", input("minimum", { inputmode: "decimal", size: 8, placeholder: "none" }))),
  h("fieldset", {}, h("legend", {}, "Price per outcome"), outcomes.el),
  h("fieldset", {}, h("legend", {}, "Recurring fees"), fees.el),
  h("details", {}, h("summary", {}, "Usage charges (JSON, optional)"), h("textarea", { name: "usage", rows: 4, cols: 60, placeholder: '[{"key": "calls", "meter": "api-calls", "model": "per_unit", "unit_price": "0.01"}]' })),
  h("div", {}, h("button", { class: "primary", type: "submit" }, "Create plan")));
  main.replaceChildren(pageHead("Plans", "What customers pay: per outcome, recurring fees, usage, a minimum"), manageTabs("plans"),
    card("Plans", listEl), card("New plan", IS_ADMIN ? [h("p", { class: "muted small" }, "A plan cannot change once made (invoices refer to it): make a new key for new prices, or override a price on one order."), form, status] : adminOnly("create plans")));
  const charges = (p) => [
    ...p.outcomes.map((o) => (o.credit_currency
      ? h("div", {}, h("code", {}, o.event_name), ` ${o.credit_price} ${o.credit_currency} each, beyond the balance `, price(o.overage ?? "0", p.currency))
      : h("div", {}, h("code", {}, o.event_name), " ", price(o.price, p.currency), " each"))),
    ...p.fees.map((f) => h("div", {}, f.name || f.key, " ", price(f.amount, p.currency), ` ${f.interval}`)),
    ...p.usage.map((u) => h("div", {}, `${u.name || u.key}: ${u.model} on meter `, h("code", {}, u.meter))),
  ];
  function load() {
    return section(listEl, "plans (GET /v1/plans)", async () => dataTable([
      { key: "key", label: "Key", render: (r) => h("code", {}, r.key) },
      { key: "name", label: "Name", render: (r) => r.name || "—" },
      { key: "currency", label: "Currency" },
      { key: "charges", label: "Charges", value: (r) => r.outcomes.length + r.fees.length, render: charges },
      { key: "minimum", label: "Minimum", num: true, render: (r) => money(r.minimum, r.currency) },
    ], listOf(await api("/v1/plans")), { empty: "No plans yet." }));
  }
  await load();
}
