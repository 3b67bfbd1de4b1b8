// API keys: the organization's keys, creating one (its secret shown once) and revoking.
import { api, listOf, section } from "../lib/api.js";
import { confirmDialog } from "../lib/dialog.js";
import { badge, card, h, IS_ADMIN, main, pageHead } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { adminOnly, field, input, manageTabs, select, submit, values } from "../lib/forms.js";
import { dataTable } from "../lib/table.js";

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
  main.replaceChildren(pageHead("API keys", "Keys of this organization; a secret is shown once, when it is made"), manageTabs("keys"),
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
