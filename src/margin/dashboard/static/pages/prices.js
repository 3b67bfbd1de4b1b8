// Prices: quote a model, its catalog price, and the organization's negotiated overrides.
import { api, listOf, qs, section } from "../lib/api.js";
import { confirmDialog } from "../lib/dialog.js";
import { badge, card, h, IS_ADMIN, main, pageHead, unavailable } from "../lib/dom.js";
import { fmtInt, fmtPrice, fmtTime, money, price, toNanos } from "../lib/format.js";
import { dataTable } from "../lib/table.js";

export async function pricesPage() {
  const quoteEl = h("div", { id: "quote" }), catalogEl = h("div", { id: "catalog" }), overridesEl = h("div", { id: "overrides" });
  const msg = h("div", { role: "status" });
  const params = new URLSearchParams(location.search);
  const form = h("form", { class: "inline", id: "quote-form", onsubmit: (e) => { e.preventDefault(); refresh(); } },
    h("label", {}, "Provider", h("input", { name: "provider", value: params.get("provider") || "openai", size: 10 })),
    h("label", {}, "Model", h("input", { name: "model", value: params.get("model") || "gpt-4o-mini", required: true, size: 18 })),
    h("label", {}, "Input tokens", h("input", { name: "input_tokens", type: "number", min: 0, value: 1000000, size: 10 })),
    h("label", {}, "Output tokens", h("input", { name: "output_tokens", type: "number", min: 0, value: 1000000, size: 10 })),
    h("button", { class: "primary" }, "Quote"));
  const ovForm = IS_ADMIN ? h("form", { class: "inline", id: "override-form", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target;
      const body = { provider: form.provider.value || "*", model: form.model.value, currency: f.currency.value,
        prices: { input: f.input.value, output: f.output.value } };
      if (f.note.value) body.note = f.note.value;
      if (f.effective_from.value) body.effective_from = f.effective_from.value + "T00:00:00Z";
      try {
        await api("/v1/prices", { method: "POST", json: body });
        msg.replaceChildren(h("p", { class: "badge ok" }, "Override saved: new costs of this model are priced with it."));
        refresh();
      } catch (err) {
        msg.replaceChildren(err.unavailable ? unavailable("setting an override (POST /v1/prices)") : h("p", { class: "error", role: "alert" }, err.message));
      }
    } },
    h("label", {}, "Input / M tokens", h("input", { name: "input", required: true, inputmode: "decimal", size: 8, placeholder: "decimal" })),
    h("label", {}, "Output / M tokens", h("input", { name: "output", required: true, inputmode: "decimal", size: 8, placeholder: "decimal" })),
    h("label", {}, "Currency", h("input", { name: "currency", value: "USD", size: 4, pattern: "[A-Z]{3}" })),
    h("label", {}, "Effective from", h("input", { name: "effective_from", type: "date" })),
    h("label", {}, "Note", h("input", { name: "note", size: 16, placeholder: "optional" })),
    h("button", { class: "primary" }, "Set override"))
    : h("p", { class: "muted small" }, "Sign in with an admin key to set a negotiated price.");
  main.replaceChildren(pageHead("Prices", "The catalog price of a model, your negotiated overrides, and what a call costs"),
    card("Quote a model", form, quoteEl),
    h("div", { class: "grid" }, card("Catalog price", catalogEl), card("Set a tenant override for this model", ovForm, msg)),
    h("div", { style: "margin-top:1rem" }, card("All overrides", overridesEl)));
  const which = () => ({ provider: form.provider.value || undefined, model: form.model.value });
  function quote() {
    return section(quoteEl, "price quotes (GET /v1/prices/quote)", async () => {
      const q = await api("/v1/prices/quote" + qs({ ...which(), input_tokens: form.input_tokens.value, output_tokens: form.output_tokens.value }));
      return h("dl", { class: "kv", style: "margin-top:1rem" },
        h("dt", {}, "Cost"), h("dd", { id: "quote-amount" }, money(q.amount, q.currency)),
        h("dt", {}, "Priced by"), h("dd", { id: "quote-source" }, badge(q.priced_by || "?", q.priced_by === "override" ? "ok" : q.priced_by === "unpriced" ? "warn" : "info")),
        q.price_ref ? [h("dt", {}, "Price"), h("dd", {}, h("code", {}, q.price_ref))] : null,
        q.unpriced_reason ? [h("dt", {}, "Why unpriced"), h("dd", {}, q.unpriced_reason)] : null);
    });
  }
  function catalog() {
    return section(catalogEl, "catalog view (GET /v1/prices/catalog)", async () => {
      let c;
      try {
        c = await api("/v1/prices/catalog" + qs(which()));
      } catch (err) {
        if (err.status === 404 && !err.unavailable) return h("p", { class: "warning" }, `Not in the catalog: ${err.message}. Set an override to price it.`);
        throw err;
      }
      const per = (n) => (n === 1000000 ? "per 1M tokens" : n === 1 ? "per unit" : `per ${fmtInt(n)}`);
      return [
        h("p", { class: "muted small" }, `${c.ref} · catalog ${c.catalog} · at ${fmtTime(c.at)}`),
        dataTable([
          { key: "kind", label: "Usage kind", render: (r) => h("code", {}, r.kind) },
          { key: "price", label: "Price", num: true, value: (r) => toNanos(r.price), render: (r) => price(r.price, c.currency) },
          { key: "per", label: "", render: (r) => h("span", { class: "muted small" }, per(r.per), r.tiers?.length ? " · tiered" : "") },
        ], listOf(c.prices), { filter: false, empty: "No prices." }),
        listOf(c.overrides).length ? h("p", { class: "badge ok" }, `${listOf(c.overrides).length} tenant override(s) in force for this model`) : null,
      ];
    });
  }
  function loadOverrides() {
    return section(overridesEl, "overrides (GET /v1/prices)", async () => dataTable([
      { key: "model", label: "Model", render: (r) => h("span", {}, `${r.provider} / `, h("code", {}, r.model)) },
      { key: "prices", label: "Prices (per 1M tokens)", render: (r) => Object.entries(r.prices || {}).map(([k, v]) => `${k} ${fmtPrice(v, r.currency)}`).join(" · ") || "—" },
      { key: "effective_from", label: "From", render: (r) => h("span", { class: "nowrap" }, fmtTime(r.effective_from)) },
      { key: "note", label: "Note", hideSm: true, render: (r) => r.note || "" },
      ...(IS_ADMIN ? [{ key: "id", label: "", render: (r) => h("button", { class: "danger", type: "button", onclick: async () => {
        const ok = await confirmDialog({ title: "Delete this override?", action: "Delete override",
          message: `${r.provider} / ${r.model}: new costs of this model will be priced by the catalog again.` });
        if (!ok) return;
        try { await api(`/v1/prices/${r.id}`, { method: "DELETE" }); refresh(); } catch (err) { msg.replaceChildren(h("p", { class: "error" }, err.message)); }
      } }, "Delete") }] : []),
    ], listOf(await api("/v1/prices?limit=1000")), { filter: false, empty: "No overrides: the catalog applies." }));
  }
  function refresh() {
    return Promise.all([quote(), catalog(), loadOverrides()]);
  }
  await refresh();
}
