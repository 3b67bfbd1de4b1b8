// Invoices: generating drafts for a billing period, the list, and one invoice with its
// lines, finalizing (numbered, immutable) and voiding, each confirmed in the page.
import { api, listOf, section } from "../lib/api.js";
import { confirmDialog } from "../lib/dialog.js";
import { badge, card, h, ID, IS_ADMIN, link, main, pageHead, unavailable } from "../lib/dom.js";
import { fmtInt, fmtMoney, fmtPct, money, price, signClass, toNanos } from "../lib/format.js";
import { kpi } from "../lib/reports.js";
import { dataTable, moneyCol } from "../lib/table.js";

export async function invoicesPage() {
  const listEl = h("div", { id: "invoices-list" }, h("p", { class: "muted" }, "Loading…"));
  const msg = h("div", { role: "status" });
  const month = new Date().toISOString().slice(0, 7);
  const gen = IS_ADMIN
    ? h("form", { class: "inline", id: "generate", onsubmit: async (e) => {
        e.preventDefault();
        msg.replaceChildren(h("p", { class: "muted" }, "Generating…"));
        try {
          const out = await api("/v1/invoices/generate", { method: "POST", json: { period: e.target.period.value } });
          const made = listOf(out);
          msg.replaceChildren(h("p", { class: made.length ? "badge ok" : "muted" }, made.length
            ? `${fmtInt(made.length)} draft invoice(s) written for ${out.period || e.target.period.value}.`
            : "Nothing to invoice: no customer has an order with charges in this period."));
          loadList();
        } catch (err) {
          msg.replaceChildren(err.unavailable ? unavailable("invoice generation (POST /v1/invoices/generate)") : h("p", { class: "error" }, err.message));
        }
      } },
      h("label", {}, "Billing period", h("input", { name: "period", type: "month", value: month, required: true })),
      h("button", { class: "primary", type: "submit" }, "Generate drafts"))
    : h("p", { class: "muted small" }, "Sign in with an admin key to generate invoices.");
  const sellerEl = h("div", { id: "seller-note" });
  main.replaceChildren(pageHead("Invoices", "Draft → finalized (immutable) → void"), sellerEl, card(null, gen, msg), card(null, listEl));
  section(sellerEl, "organization settings (GET /v1/organization)", async () => sellerNote(await api("/v1/organization")));
  function loadList() {
    section(listEl, "invoices (GET /v1/invoices)", async () => dataTable([
      { key: "number", label: "Invoice", value: (r) => r.number || r.id, render: (r) => link(`/invoices/${r.id}`, r.number || r.id) },
      { key: "customer", label: "Customer", value: (r) => r.customer?.name || r.customer_id, render: (r) => (r.customer_id ? link(`/customers/${r.customer_id}`, r.customer?.name || r.customer?.external_id || r.customer_id) : "—") },
      { key: "period", label: "Period" },
      { key: "status", label: "Status", render: (r) => statusBadge(r.status) },
      moneyCol("total", "Total"), moneyCol("cost", "AI cost", { hideSm: true }),
      { key: "margin_pct", label: "Margin", num: true, value: (r) => (r.margin_pct == null ? null : toNanos(r.margin_pct)), render: (r) => h("span", { class: signClass(r.margin_pct) }, fmtPct(r.margin_pct)) },
    ], listOf(await api("/v1/invoices?limit=1000")).reverse(), { empty: "No invoices yet. Generate drafts for a billing period above." }));
  }
  loadList();
}
// Until the seller's legal name is set, an invoice is from the organization's display name,
// with no address or tax id: not one to send.
function sellerNote(org) {
  if (org.seller.legal_name) return null;
  return h("p", { class: "warning", dataset: { warning: "seller" } },
    `⚠ Invoices name the seller “${org.display_name}”, with no address or tax id. `,
    link("/organization", "Set the seller's details"), " before sending one.");
}
const printable = (inv) => [
  h("a", { href: `/v1/invoices/${inv.id}.html`, target: "_blank", rel: "noopener", id: "printable" }, "Printable invoice ↗"),
  h("a", { href: `/v1/invoices/${inv.id}.html?internal=true`, target: "_blank", rel: "noopener" }, "with AI cost & margin ↗"),
  h("a", { href: `/v1/invoices/${inv.id}.pdf`, download: `${inv.number || inv.id}.pdf`, id: "pdf" }, "Download PDF"),
];
// AI cost in currencies other than the invoice's: listed, since no margin in the invoice's
// currency can be stated without converting it (the margin report does).
const otherCosts = (inv) => Object.entries(inv.cost_other_currencies || {})
  .filter(([, amount]) => Number(amount) !== 0)
  .map(([c, amount]) => `+ ${fmtMoney(amount, c)}`).join(" ");
const statusBadge = (s) => badge(s || "?", s === "finalized" ? "ok" : s === "void" ? "bad" : "info");

export async function invoicePage() {
  const el = h("div", { id: "invoice" }, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(pageHead("Invoice", ID), h("p", {}, link("/invoices", "← all invoices")), el);
  const load = () => section(el, "invoice (GET /v1/invoices/{id})", async () => {
    const inv = await api(`/v1/invoices/${encodeURIComponent(ID)}`);
    const cur = inv.currency;
    const msg = h("div", { role: "status" });
    const act = async (path, json) => {
      try { await api(path, { method: "POST", json }); load(); } catch (err) { msg.replaceChildren(h("p", { class: "error" }, err.message)); }
    };
    const who = inv.customer?.name || inv.customer?.external_id || inv.customer_id;
    const total = fmtMoney(inv.total, cur);
    const finalize = async () => {
      const ok = await confirmDialog({ title: "Finalize this invoice?", action: "Finalize",
        message: `${who} · ${inv.period} · ${total}. A finalized invoice is numbered and can never change again; it can only be voided.` });
      if (ok) act(`/v1/invoices/${inv.id}/finalize`, {});
    };
    const voidIt = async () => {
      const ok = await confirmDialog({ title: "Void this invoice?", action: "Void invoice", reason: "Reason (kept with the invoice)",
        message: `${inv.number || "This draft"} · ${who} · ${total}. Voiding cannot be undone.` });
      if (ok) act(`/v1/invoices/${inv.id}/void`, { reason: ok.reason });
    };
    const actions = IS_ADMIN ? h("div", { class: "toolbar", id: "actions" },
      inv.status === "draft" ? h("button", { class: "primary", onclick: finalize }, "Finalize") : null,
      inv.status !== "void" ? h("button", { class: "danger", onclick: voidIt }, "Void") : null,
      printable(inv)) : h("div", { class: "toolbar" }, printable(inv));
    document.querySelector("h1").textContent = inv.number ? `Invoice ${inv.number}` : "Draft invoice";
    return [
      h("div", { class: "kpis" },
        h("div", { class: "kpi", dataset: { kpi: "status" } }, h("div", { class: "label" }, "Status"), h("div", { class: "value", id: "status" }, inv.status),
          h("div", { class: "delta" }, link(`/customers/${inv.customer_id}`, who), ` · ${inv.period}`)),
        kpi("revenue", "Total", inv.total, cur, inv.number || "not numbered until finalized"),
        kpi("cost", "AI cost (internal)", inv.cost, cur, otherCosts(inv) || "seller only"),
        kpi("margin", "Margin", inv.margin_pct, null, inv.margin == null ? (otherCosts(inv) ? "cost in other currencies: see the margin report" : "") : fmtMoney(inv.margin, cur))),
      card(null, actions, msg),
      card("Lines", dataTable([
        { key: "description", label: "Description", render: (r) => [r.description || r.key || r.type || "—", r.type ? [" ", badge(r.type)] : null] },
        { key: "quantity", label: "Qty", num: true, render: (r) => (r.quantity == null ? "—" : new Intl.NumberFormat().format(r.quantity)) },
        { key: "unit_price", label: "Unit price", num: true, hideSm: true, render: (r) => price(r.unit_price, cur) },
        { key: "amount", label: "Amount", num: true, value: (r) => toNanos(r.amount), render: (r) => money(r.amount, cur) },
        { key: "cost", label: "AI cost", num: true, hideSm: true, value: (r) => toNanos(r.cost), render: (r) => money(r.cost, cur) },
      ], listOf(inv.lines), { filter: false, empty: "No lines." })),
      card("Details", h("dl", { class: "kv" }, ["id", "number", "customer_id", "currency", "period_start", "period_end", "as_of", "finalized_at", "voided_at", "void_reason"]
        .filter((k) => inv[k] != null).flatMap((k) => [h("dt", {}, k.replace(/_/g, " ")), h("dd", {}, String(inv[k]))]))),
    ];
  });
  load();
}
