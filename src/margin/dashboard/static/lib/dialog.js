// The in-page confirmation of irreversible actions (finalize, void, revoke, delete).
import { h } from "./dom.js";

// An irreversible action asks first, in the page (a <dialog>, never prompt()/confirm()).
// `reason` adds a required text field; resolves to {reason} when confirmed, null otherwise.
export function confirmDialog({ title, message, action, reason = null }) {
  return new Promise((resolve) => {
    const field = reason ? h("textarea", { name: "reason", required: true, rows: 3, maxlength: 512 }) : null;
    const dlg = h("dialog", { class: "confirm", id: "confirm-dialog", "aria-labelledby": "confirm-title" });
    const close = (value) => { dlg.close(); dlg.remove(); resolve(value); };
    dlg.append(h("form", { method: "dialog", onsubmit: (e) => { e.preventDefault(); close({ reason: field ? field.value.trim() : null }); } },
      h("h2", { id: "confirm-title" }, title),
      h("p", {}, message),
      field ? h("label", {}, reason, field) : null,
      h("div", { class: "toolbar" },
        h("button", { type: "button", class: "secondary", onclick: () => close(null) }, "Cancel"),
        h("button", { type: "submit", class: "danger", value: "confirm" }, action))));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); close(null); });
    document.body.append(dlg);
    dlg.showModal();
    (field || dlg.querySelector("button.secondary")).focus();
  });
}
