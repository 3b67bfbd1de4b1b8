// Organization: its display name, the currency reports convert to, and the seller printed on
// every invoice (legal name, address, email, tax id). Without a legal name an invoice names
// the seller by the organization's display name.
import { api, section } from "../lib/api.js";
import { card, h, IS_ADMIN, main, pageHead } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { adminOnly, field, input, manageTabs, submit } from "../lib/forms.js";

// The PATCH body of the form: every seller detail is sent, an empty one as null (cleared).
function changes(form) {
  const f = form.elements;
  const text = (name) => f[name].value.trim() || null;
  return {
    display_name: f.display_name.value.trim(),
    reporting_currency: f.reporting_currency.value.trim(),
    seller: {
      legal_name: text("seller.legal_name"),
      address: f["seller.address"].value.split("\n").map((line) => line.trim()).filter(Boolean),
      email: text("seller.email"),
      tax_id: text("seller.tax_id"),
    },
  };
}

function settingsForm(org) {
  const s = org.seller;
  const status = h("div", { role: "status", id: "organization-status" });
  const locked = !IS_ADMIN;
  const form = h("form", { class: "stack", id: "organization-form", onsubmit: (e) => {
    e.preventDefault();
    submit(form, status, () => api("/v1/organization", { method: "PATCH", json: changes(form) }),
      (saved) => {
        form.elements["seller.address"].value = saved.seller.address.join("\n"); // as stored: blank lines dropped
        return "Saved: printable invoices and their PDFs show these details.";
      });
  } },
  h("div", { class: "inline" },
    field("Display name", input("display_name", { required: true, value: org.display_name, size: 24, disabled: locked })),
    field("Reporting currency", input("reporting_currency", { required: true, value: org.reporting_currency, size: 4, pattern: "[A-Z]{3}", disabled: locked }), "reports convert to it")),
  h("fieldset", {}, h("legend", {}, "Seller on invoices"),
    h("div", { class: "inline" },
      field("Legal name", input("seller.legal_name", { value: s.legal_name ?? "", size: 28, placeholder: org.display_name, disabled: locked })),
      field("Email", input("seller.email", { type: "email", value: s.email ?? "", size: 24, disabled: locked })),
      field("Tax id", input("seller.tax_id", { value: s.tax_id ?? "", size: 16, placeholder: "VAT number", disabled: locked }))),
    h("div", { class: "inline", style: "margin-top:.5rem" },
      field("Address", h("textarea", { name: "seller.address", rows: 3, cols: 40, disabled: locked }, s.address.join("\n")), "one line per line"))),
  IS_ADMIN ? h("div", {}, h("button", { class: "primary", type: "submit" }, "Save")) : adminOnly("change these settings"));
  return [form, status];
}

export async function organizationPage() {
  const el = h("div", { id: "organization" }, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(pageHead("Organization", "Its name, the currency reports convert to, and the seller printed on invoices"),
    manageTabs("organization"), card(null, el));
  await section(el, "organization settings (GET /v1/organization)", async () => {
    const org = await api("/v1/organization");
    return [...settingsForm(org), h("p", { class: "muted small" }, `${org.id} · created ${fmtTime(org.created_at)}`)];
  });
}
