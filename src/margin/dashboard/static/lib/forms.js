// Forms of the management pages: labelled fields, submitting to the API with its problem
// shown beside the field it names, rows that can be added and removed, and the tabs that
// join plans, orders, meters and API keys under one "Manage" entry. Amounts are sent as the
// decimal strings people type: the API validates them.
import { h } from "./dom.js";

const TABS = [["plans", "/plans", "Plans"], ["orders", "/orders", "Orders"], ["meters", "/meters", "Meters"], ["keys", "/keys", "API keys"], ["organization", "/organization", "Organization"]];
export function manageTabs(active) {
  return h("nav", { class: "tabs", "aria-label": "Manage" },
    TABS.map(([k, href, label]) => h("a", { href, "aria-current": k === active ? "page" : null }, label)));
}
export const adminOnly = (what) => h("p", { class: "muted small" }, `Sign in with an admin key to ${what}.`);

export const field = (label, input, hint) => h("label", {}, label, input, hint ? h("span", { class: "muted small" }, hint) : null);
export const input = (name, attrs = {}) => h("input", { name, ...attrs });
export const select = (name, options, value) =>
  h("select", { name }, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
export const today = () => new Date().toISOString().slice(0, 10);
// Values of a form's named fields; empty ones are left out (the API's defaults apply).
export function values(form, names) {
  const out = {};
  for (const n of names) {
    const el = form.elements[n];
    const v = el ? String(el.value).trim() : "";
    if (v !== "") out[n] = v;
  }
  return out;
}
// Submit `fn()`; a refused request shows the API's problem detail and marks the field it names.
export async function submit(form, status, fn, done) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    const out = await fn();
    status.replaceChildren(h("p", { class: "badge ok" }, done(out)));
    return out;
  } catch (err) {
    // An address line's problem (seller.address.1) marks the whole address field.
    const el = err.field && (form.elements[err.field] || form.elements[err.field.replace(/\.\d+$/, "")]);
    if (el && el.setAttribute) el.setAttribute("aria-invalid", "true");
    status.replaceChildren(h("p", { class: "error", role: "alert", dataset: { field: err.field || "" } }, err.message));
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}
// Rows of inputs that can be added and removed (a plan's outcomes, its fees).
export function repeater(name, make, first) {
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
export const cell = (key, attrs) => h("input", { dataset: { key }, "aria-label": attrs.placeholder, ...attrs });
