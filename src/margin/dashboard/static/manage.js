// Management pages: plans, orders, meters and API keys, and the create/edit forms of
// customers and agents. Everything goes through the public /v1 API; amounts are sent as the
// decimal strings people type (the API validates them) and shown as the API returns them.
import {
  h, link, card, badge, api, listOf, fetchAll, dataTable, pageHead, fmtTime, money, price,
  confirmDialog, partyNames, IS_ADMIN, main, section,
} from "./app.js";

export const TABS = [["plans", "/plans", "Plans"], ["orders", "/orders", "Orders"], ["meters", "/meters", "Meters"], ["keys", "/keys", "API keys"]];
function tabs(active) {
  return h("nav", { class: "tabs", "aria-label": "Manage" },
    TABS.map(([k, href, label]) => h("a", { href, "aria-current": k === active ? "page" : null }, label)));
}
const adminOnly = (what) => h("p", { class: "muted small" }, `Sign in with an admin key to ${what}.`);

// ---------- forms ----------
const field = (label, input, hint) => h("label", {}, label, input, hint ? h("span", { class: "muted small" }, hint) : null);
const input = (name, attrs = {}) => h("input", { name, ...attrs });
const select = (name, options, value) =>
  h("select", { name }, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
const today = () => new Date().toISOString().slice(0, 10);
// Values of a form's named fields; empty ones are left out (the API's defaults apply).
function values(form, names) {
  const out = {};
  for (const n of names) {
    const el = form.elements[n];
    const v = el ? String(el.value).trim() : "";
    if (v !== "") out[n] = v;
  }
  return out;
}
// Submit `fn()`; a refused request shows the API's problem detail and marks the field it names.
async function submit(form, status, fn, done) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    const out = await fn();
    status.replaceChildren(h("p", { class: "badge ok" }, done(out)));
    return out;
  } catch (err) {
    const el = err.field && form.elements[err.field];
    if (el && el.setAttribute) el.setAttribute("aria-invalid", "true");
    status.replaceChildren(h("p", { class: "error", role: "alert", dataset: { field: err.field || "" } }, err.message));
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}
// Rows of inputs that can be added and removed (a plan's outcomes, its fees).
function repeater(name, make, first) {
  const rows = h("div", { class: "stack", dataset: { repeater: name } });
  const add = (init) => {
    const row = h("div", { class: "toolbar", dataset: { row: name } }, make(init || {}),
      h("button", { type: "button", class: "secondary", "aria-label": "Remove", onclick: () => row.remove() }, "×"));
    rows.append(row);
  };
  if (first) add(first);
  const read = () => [...rows.querySelectorAll(`[data-row=${name}]`)].map((row) => {
    const out = {};
    for (const el of row.querySelectorAll("[data-key]")) if (el.value.trim() !== "") out[el.dataset.key] = el.value.trim();
    return out;
  }).filter((o) => Object.keys(o).length);
  return { el: h("div", {}, rows, h("button", { type: "button", class: "secondary", onclick: () => add() }, `Add ${name}`)), read };
}
const cell = (key, attrs) => h("input", { dataset: { key }, "aria-label": attrs.placeholder, ...attrs });

// ---------- customers and agents ----------
export const TRACKING = [
  ["auto", "auto: cost once recorded, revenue once an order can produce it"],
  ["full", "full: cost and revenue"],
  ["cost_only", "cost only (no revenue)"],
  ["revenue_only", "revenue only (no cost)"],
];
// Create (party null) or edit a customer or agent; `done(party)` after a change.
export function partyForm(kind, party, done) {
  const singular = kind === "customers" ? "customer" : "agent";
  const status = h("div", { role: "status" });
  const extra = kind === "customers"
    ? [field("Email", input("email", { type: "email", value: party?.email ?? "" })), field("Currency", input("currency", { value: party?.currency ?? "", size: 4, placeholder: "USD" }))]
    : [field("Description", input("description", { value: party?.description ?? "", size: 30 }))];
  const form = h("form", { class: "inline", id: party ? `edit-${singular}` : `new-${singular}`, onsubmit: (e) => {
    e.preventDefault();
    const body = values(form, ["external_id", "name", "email", "currency", "description", "tracking_mode"]);
    if (party) delete body.external_id;
    submit(form, status, () => (party
      ? api(`/v1/${kind}/${party.id}`, { method: "PATCH", json: body })
      : api(`/v1/${kind}`, { method: "POST", json: body })), (p) => {
      if (done) done(p);
      return party ? "Saved." : `Created ${p.name || p.external_id}.`;
    });
  } },
  party ? null : field("External id", input("external_id", { required: true, size: 14 }), "your system's id"),
  field("Name", input("name", { value: party?.name ?? "", size: 18 })),
  ...extra,
  field("Tracking mode", select("tracking_mode", TRACKING, party?.tracking_mode || "auto")),
  h("button", { class: "primary", type: "submit" }, party ? "Save" : `Add ${singular}`));
  return h("div", {}, form, status);
}
export const trackingBadge = (mode) => badge((mode || "auto").replace("_", " "), mode === "full" ? "ok" : mode === "auto" ? "" : "info");

// ---------- plans ----------
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
  main.replaceChildren(pageHead("Plans", "What customers pay: per outcome, recurring fees, usage, a minimum"), tabs("plans"),
    card("Plans", listEl), card("New plan", IS_ADMIN ? [h("p", { class: "muted small" }, "A plan cannot change once made (invoices refer to it): make a new key for new prices, or override a price on one order."), form, status] : adminOnly("create plans")));
  const charges = (p) => [
    ...p.outcomes.map((o) => h("div", {}, h("code", {}, o.event_name), " ", price(o.price, p.currency), " each")),
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

// ---------- orders ----------
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
  main.replaceChildren(pageHead("Orders", "Which customer is on which plan, and when"), tabs("orders"),
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

// ---------- meters ----------
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
  main.replaceChildren(pageHead("Meters", "Usage counted from raw events: what usage charges bill and cost meters cost"), tabs("meters"),
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

// ---------- API keys ----------
export async function keysPage() {
  const listEl = h("div", { id: "keys-list" }, h("p", { class: "muted" }, "Loading…"));
  const status = h("div", { role: "status", id: "key-status" });
  const form = h("form", { class: "inline", id: "new-key", onsubmit: (e) => {
    e.preventDefault();
    submit(form, status, () => api("/v1/keys", { method: "POST", json: values(form, ["scope", "name"]) }), (k) => {
      load();
      return h("span", {}, `Key ${k.name} (${k.scope}) created. Copy it now: it is shown only this once.`, h("code", { class: "secret", id: "new-secret" }, k.secret));
    });
  } },
  field("Scope", select("scope", [["ingest", "ingest: send costs and signals"], ["read", "read: reports and the dashboard"], ["admin", "admin: everything"]], "ingest")),
  field("Name", input("name", { size: 20, placeholder: "e.g. production agents" })),
  h("button", { class: "primary", type: "submit" }, "Create key"));
  async function revoke(k) {
    const ok = await confirmDialog({ title: `Revoke ${k.name}?`, action: "Revoke key",
      message: `${k.prefix}… (${k.scope}) stops working at once, for every client that uses it, and cannot be restored.${k.current ? " It is the key you signed in with: you will be signed out." : ""}` });
    if (!ok) return;
    try {
      await api(`/v1/keys/${k.id}/revoke`, { method: "POST" });
      await load(); // the list shows the revocation before the note says it is done
      status.replaceChildren(h("p", { class: "badge ok" }, `${k.name} revoked.`));
    } catch (err) {
      status.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
    }
  }
  main.replaceChildren(pageHead("API keys", "Keys of this organization; a secret is shown once, when it is made"), tabs("keys"),
    card("New key", IS_ADMIN ? form : adminOnly("manage keys"), status), card("Keys", listEl));
  function load() {
    // Keys are an admin's business: the API refuses a read key, so do not ask it.
    if (!IS_ADMIN) return listEl.replaceChildren(adminOnly("see the API keys"));
    return section(listEl, "keys (GET /v1/keys)", async () => dataTable([
      { key: "name", label: "Name", render: (r) => [r.name, r.current ? [" ", badge("this session", "info")] : null] },
      { key: "prefix", label: "Key", render: (r) => h("code", {}, `${r.prefix}…`) },
      { key: "scope", label: "Scope", render: (r) => badge(r.scope, r.scope === "admin" ? "warn" : "info") },
      { key: "created_at", label: "Created", render: (r) => h("span", { class: "nowrap" }, fmtTime(r.created_at)) },
      { key: "revoked_at", label: "Status", render: (r) => (r.revoked_at ? badge(`revoked ${fmtTime(r.revoked_at)}`, "bad") : badge("active", "ok")) },
      { key: "id", label: "", render: (r) => (r.revoked_at || !IS_ADMIN ? "" : h("button", { type: "button", class: "danger", onclick: () => revoke(r) }, "Revoke")) },
    ], listOf(await api("/v1/keys")), { sort: { key: "created_at", dir: -1 }, empty: "No keys." }));
  }
  await load();
}
