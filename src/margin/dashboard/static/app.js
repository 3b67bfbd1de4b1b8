// Margin dashboard. The server renders a page shell naming the page; this entry loads that
// page's module, which fills <main> from the public /v1 JSON API (fetched with the session
// cookie). Modules: lib/ holds what pages share (DOM, API, formatting, the period, tables,
// reports, the chart, dialogs), pages/ one module per page. Native ES modules, served from
// the package: no build step, nothing from the web.
//
// No money arithmetic happens here: amounts arrive as exact decimal strings (profit, margin
// and totals computed by the server) and are only formatted (lib/format.js).

import { h, main, PAGE } from "./lib/dom.js";
import { ApiError, settled } from "./lib/api.js";

const PAGES = {
  overview: () => import("./pages/overview.js").then((m) => m.overviewPage()),
  customers: () => import("./pages/parties.js").then((m) => m.partyListPage("customers")),
  customer: () => import("./pages/party.js").then((m) => m.partyDetailPage("customers")),
  agents: () => import("./pages/parties.js").then((m) => m.partyListPage("agents")),
  agent: () => import("./pages/party.js").then((m) => m.partyDetailPage("agents")),
  signals: () => import("./pages/signals.js").then((m) => m.signalsPage()),
  trace: () => import("./pages/trace.js").then((m) => m.tracePage()),
  invoices: () => import("./pages/invoices.js").then((m) => m.invoicesPage()),
  invoice: () => import("./pages/invoices.js").then((m) => m.invoicePage()),
  prices: () => import("./pages/prices.js").then((m) => m.pricesPage()),
  simulate: () => import("./pages/simulate.js").then((m) => m.default()),
  plans: () => import("./pages/plans.js").then((m) => m.plansPage()),
  orders: () => import("./pages/orders.js").then((m) => m.ordersPage()),
  meters: () => import("./pages/meters.js").then((m) => m.metersPage()),
  keys: () => import("./pages/keys.js").then((m) => m.keysPage()),
  organization: () => import("./pages/organization.js").then((m) => m.organizationPage()),
  control: () => import("./pages/control.js").then((m) => m.controlPage()),
};

// Queue mode: how far the writers are behind (GET /v1/health), in the footer.
async function queueLag() {
  const res = await fetch("/v1/health", { headers: { Accept: "application/json" } });
  const health = res.ok ? await res.json() : {};
  const q = health.queue;
  if (health.mode !== "queue" || !q) return;
  const text = q.status === "unreachable" ? "ingest queue unreachable"
    : `ingest queue: ${q.messages} waiting (${Math.round(q.seconds)} s behind), ${q.dead_letters} dead letters`;
  document.querySelector(".foot")?.append(h("span", { class: "queue-lag" }, ` · ${text}`));
}

(async () => {
  try {
    queueLag().catch(() => {});
    await PAGES[PAGE]();
    // Sections load in parallel; the page is ready once every one has settled.
    await settled();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) main.append(h("p", { class: "error", role: "alert" }, err.message));
  } finally {
    document.body.dataset.ready = "1"; // tests and screenshots wait for this
  }
})();
