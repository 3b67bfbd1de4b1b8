// The /v1 JSON API as the signed-in browser calls it (session cookie, CSRF header), and
// page sections that load from it in parallel.
import { h, unavailable } from "./dom.js";

export class ApiError extends Error {
  constructor(status, detail, unavailableRoute, field = null) {
    super(detail);
    this.status = status;
    this.unavailable = unavailableRoute;
    this.field = field; // the request field a problem answer names
  }
}

export async function api(path, { method = "GET", json } = {}) {
  const opts = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-Margin-CSRF": "1" },
  };
  if (json !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(json);
  }
  const res = await fetch(path, opts);
  if (res.status === 401) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, "signed out", false);
  }
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const detail = (data && data.detail) || res.statusText;
    // A route the server does not have answers FastAPI's bare "Not Found" (or 405): that is
    // an endpoint not shipped yet, unlike "no customer 'x'" from a route that exists.
    const missing = (res.status === 404 && detail === "Not Found") || res.status === 405;
    throw new ApiError(res.status, detail, missing, (data && data.field) || null);
  }
  return data;
}

// Run `fn`; on an endpoint the server lacks, show a "not available" note instead of failing.
const pending = [];
export function section(target, what, fn) {
  const run = sectionRun(target, what, fn);
  pending.push(run);
  return run;
}
// Resolves once every section started so far (and any they start) has settled.
export async function settled() {
  for (let i = 0; i < pending.length; i++) await pending[i].catch(() => {});
}
async function sectionRun(target, what, fn) {
  try {
    const out = await fn();
    // A section may return null parts (a note shown only sometimes): they are not text.
    target.replaceChildren(...[].concat(out).filter((x) => x !== null && x !== undefined && x !== false));
  } catch (err) {
    if (err instanceof ApiError && err.unavailable) target.replaceChildren(unavailable(what));
    else target.replaceChildren(h("p", { class: "error", role: "alert" }, `${what}: ${err.message}`));
  }
}

export const qs = (params) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? "?" + s : "";
};
export const listOf = (data) => (Array.isArray(data) ? data : data?.data || data?.items || []);
export const when = (r) => r.ts ?? r.timestamp ?? null;

// Every page of a cursor-paged list, up to `cap` items (the list endpoints have no time filter:
// callers keep the rows of the period themselves).
export async function fetchAll(path, params = {}, cap = 10000) {
  const out = [];
  let cursor = null;
  do {
    const page = await api(path + qs({ ...params, limit: 500, cursor }));
    out.push(...listOf(page));
    cursor = page.next_cursor;
  } while (cursor && out.length < cap);
  return out;
}
let namesCache = null;
// id -> display name of customers and agents, to label rows that carry only ids.
export function partyNames() {
  namesCache ??= Promise.all(["customers", "agents"].map((k) => fetchAll(`/v1/${k}`, {}, 5000).catch(() => [])))
    .then(([cs, as]) => new Map([...cs, ...as].map((x) => [x.id, x.name || x.external_id])));
  return namesCache;
}
