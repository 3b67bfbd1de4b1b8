// Orders: which customer is on which plan, and when; ending or reopening one.
import { api, fetchAll, listOf, partyNames, section } from "../lib/api.js";
import { badge, card, h, IS_ADMIN, link, main, pageHead } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { adminOnly, field, input, manageTabs, select, submit, today, values } from "../lib/forms.js";
import { dataTable } from "../lib/table.js";

export async function ordersPage() {
  const listEl = h("div", { id: "orders-list" }, h("p", { class: "muted" }, "Loading…"));
  const status = h("div", { role: "status", id: "order-status" });
  const [customers, plans] = await Promise.all([fetchAll("/v1/customers", {}, 5000).catch(() => []), api("/v1/plans").then(listOf).catch(() => [])]);
  const form = h("form", { class: "inline", id: "new-order", onsubmit: (e) => {
    e.preventDefault();
    submit(form, status, () => api("/v1/orders", { method: "POST", json: values(form, ["customer", "plan", "starts_at", "ends_at"]) }), () => { load(); return "Order created."; });
  } },
  field("Customer", select("customer", customers.map((c) => [c.external_id, c.name || c.external_id]))),
  field("Plan", select("plan", plans.map((p) => [p.key, `${p.name || p.key} (${p.currency})`]))),
  field("Starts", input("starts_at", { type: "date", required: true, value: today() })),
  field("Ends", input("ends_at", { type: "date" }), "optional"),
  h("button", { class: "primary", type: "submit", disabled: !customers.length || !plans.length }, "Create order"));
  main.replaceChildren(pageHead("Orders", "Which customer is on which plan, and when"), manageTabs("orders"),
    card("Orders", listEl, status), card("New order", IS_ADMIN ? form : adminOnly("create orders")));
  const endForm = (o) => {
    if (!IS_ADMIN) return "";
    if (o.ends_at) return h("button", { type: "button", class: "secondary", onclick: () => patch(o, null) }, "Reopen");
    const when = h("input", { type: "date", value: today(), "aria-label": "End date" });
    return h("span", { class: "toolbar" }, when, h("button", { type: "button", class: "secondary", onclick: () => patch(o, when.value) }, "End"));
  };
  async function patch(o, ends) {
    try {
      await api(`/v1/orders/${o.id}`, { method: "PATCH", json: { ends_at: ends } });
      await load();
      status.replaceChildren(h("p", { class: "badge ok" }, ends ? `Order ends ${ends}.` : "Order reopened."));
    } catch (err) {
      status.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
    }
  }
  function load() {
    return section(listEl, "orders (GET /v1/orders)", async () => {
      const [rows, names] = await Promise.all([api("/v1/orders").then(listOf), partyNames()]);
      return dataTable([
        { key: "customer", label: "Customer", value: (r) => names.get(r.customer_id) || r.customer_id, render: (r) => link(`/customers/${r.customer_id}`, names.get(r.customer_id) || r.customer_id) },
        { key: "plan", label: "Plan", render: (r) => h("code", {}, r.plan || r.plan_id) },
        { key: "starts_at", label: "Starts", render: (r) => h("span", { class: "nowrap" }, fmtTime(r.starts_at)) },
        { key: "ends_at", label: "Ends", render: (r) => (r.ends_at ? h("span", { class: "nowrap" }, fmtTime(r.ends_at)) : badge("open-ended", "ok")) },
        { key: "overrides", label: "Overrides", render: (r) => (Object.keys(r.overrides || {}).length ? h("code", { class: "small" }, JSON.stringify(r.overrides)) : "—") },
        { key: "id", label: "", render: endForm },
      ], rows, { empty: "No orders yet." });
    });
  }
  await load();
}
