// The customers and agents lists (with each one's figures for the period) and the form that
// adds or edits a customer or agent.
import { api, fetchAll, section } from "../lib/api.js";
import { badge, card, h, IS_ADMIN, link, main, pageHead } from "../lib/dom.js";
import { fmtInt } from "../lib/format.js";
import { field, input, select, submit, values } from "../lib/forms.js";
import { fxWarning } from "../lib/fx.js";
import { addDays, period, periodPicker } from "../lib/period.js";
import { flatRow, marginReport } from "../lib/reports.js";
import { dataTable, marginCol, moneyCol } from "../lib/table.js";

export async function partyListPage(kind) {
  const p = period();
  const singular = kind === "customers" ? "customer" : "agent";
  const el = h("div", { id: `${kind}-table` }, h("p", { class: "muted" }, "Loading…"));
  const add = IS_ADMIN
    ? h("details", { class: "card", id: `add-${singular}` }, h("summary", {}, `Add a ${singular}`),
      h("div", { style: "margin-top:.75rem" }, partyForm(kind, null, (made) => { location.href = `/${kind}/${made.id}`; })))
    : null;
  main.replaceChildren(pageHead(kind === "customers" ? "Customers" : "Agents", `${p.fromDate} → ${addDays(p.toDate, -1)} · ${p.tz}`, periodPicker()), add || "", card(null, el));
  await section(el, `${kind} list`, async () => {
    const [parties, report] = await Promise.all([fetchAll(`/v1/${kind}`, {}, 5000), marginReport(p, { group_by: singular })]);
    const groups = report.rows;
    const byKey = new Map();
    for (const g of groups) if (g.key) (byKey.get(g.key) || byKey.set(g.key, []).get(g.key)).push(g);
    const rows = [];
    for (const party of parties) {
      for (const g of byKey.get(party.id) || [{}]) {
        rows.push(flatRow({ ...g, id: party.id, label: party.name || party.external_id, external_id: party.external_id, tracking_mode: party.tracking_mode, cost: g.cost ?? null, revenue: g.revenue ?? null }));
      }
    }
    const table = dataTable([
      { key: "label", label: singular, render: (r) => link(`/${kind}/${encodeURIComponent(r.id)}`, r.label) },
      { key: "external_id", label: "External id", hideSm: true, render: (r) => h("code", {}, r.external_id) },
      { key: "tracking_mode", label: "Tracking", hideSm: true, render: (r) => trackingBadge(r.tracking_mode) },
      moneyCol("cost", "Cost"), moneyCol("revenue", "Revenue"), moneyCol("profit", "Profit"), marginCol,
      { key: "signals", label: "Signals", num: true, hideSm: true, render: (r) => fmtInt(r.signals) },
      { key: "unpriced", label: "Unpriced", num: true, hideSm: true, render: (r) => (r.unpriced ? badge(fmtInt(r.unpriced), "warn") : "—") },
    ], rows, { sort: { key: "profit", dir: -1 } });
    return [fxWarning(rows.filter((r) => r.unconverted), report), table];
  });
}

// What a customer or agent is tracked for (its tracking mode).
const TRACKING = [
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
