// The control plane: fired alerts and their rules, webhook endpoints and the delivery log.
import { api, listOf, section } from "../lib/api.js";
import { badge, card, h, main, pageHead } from "../lib/dom.js";
import { fmtTime } from "../lib/format.js";
import { dataTable } from "../lib/table.js";

// The control plane: fired alerts and their rules, webhook endpoints and the delivery log.
export async function controlPage() {
  const alertsEl = h("div", { id: "alerts" }), rulesEl = h("div", { id: "alert-rules" });
  const endpointsEl = h("div", { id: "webhook-endpoints" }), logEl = h("div", { id: "webhook-log" });
  main.replaceChildren(pageHead("Control", "Alerts, alert rules and webhooks (docs/control.md)"),
    card("Alerts", alertsEl), card("Alert rules", rulesEl),
    card("Webhook endpoints", endpointsEl), card("Webhook deliveries", logEl));
  section(alertsEl, "alerts (GET /v1/alerts)", async () => dataTable([
    { key: "rule", label: "Rule" }, { key: "party", label: "Party" },
    { key: "threshold", label: "Threshold" }, { key: "value", label: "Value" },
    { key: "state", label: "State", render: (r) => badge(r.state, r.state === "resolved" ? "ok" : "bad") },
    { key: "triggered_at", label: "Triggered", render: (r) => fmtTime(r.triggered_at) },
  ], listOf(await api("/v1/alerts")), { empty: "No alert has fired." }));
  section(rulesEl, "alert rules (GET /v1/alerts/rules)", async () => dataTable([
    { key: "name", label: "Name" }, { key: "metric", label: "Metric" }, { key: "per", label: "Per" },
    { key: "direction", label: "When" }, { key: "thresholds", label: "Thresholds", value: (r) => r.thresholds.join(", ") },
    { key: "period", label: "Period", value: (r) => `${r.period} · ${r.time_zone}` },
  ], listOf(await api("/v1/alerts/rules")), { empty: "No alert rules." }));
  section(endpointsEl, "webhook endpoints (GET /v1/webhooks/endpoints)", async () => dataTable([
    { key: "url", label: "URL" }, { key: "event_types", label: "Events", value: (r) => r.event_types.join(", ") },
    { key: "enabled", label: "State", render: (r) => badge(r.enabled ? "enabled" : "disabled", r.enabled ? "ok" : "bad") },
    { key: "failure_streak", label: "Failures in a row", num: true },
  ], listOf(await api("/v1/webhooks/endpoints")), { empty: "No webhook endpoints." }));
  section(logEl, "webhook deliveries (GET /v1/webhooks/deliveries)", async () => dataTable([
    { key: "event_type", label: "Event" }, { key: "message_id", label: "Message" },
    { key: "status", label: "Status", render: (r) => badge(r.status, r.status === "delivered" ? "ok" : r.status === "pending" ? "info" : "bad") },
    { key: "attempts", label: "Attempts", num: true },
    { key: "last_status_code", label: "Last answer", value: (r) => (r.last_status_code == null ? "—" : String(r.last_status_code)) },
    { key: "created_at", label: "Created", render: (r) => fmtTime(r.created_at) },
  ], listOf(await api("/v1/webhooks/deliveries")), { empty: "Nothing delivered yet." }));
}
