// How numbers read. Amounts arrive from the API as exact decimal strings and are formatted
// from the string (Intl.NumberFormat takes decimal strings), never through a float. The page
// does no money arithmetic: BigInt nano-units only compare amounts (sorting, the "less than
// the smallest coin" test, the length of a bar).
import { h } from "./dom.js";
import { period } from "./period.js";

const SCALE = 1_000_000_000n;
export function toNanos(value) {
  if (value === null || value === undefined || value === "") return null;
  const s = String(value).trim();
  const neg = s.startsWith("-");
  const [i, f = ""] = s.replace(/^[-+]/, "").split(".");
  const n = BigInt(i || "0") * SCALE + BigInt((f + "000000000").slice(0, 9));
  return neg ? -n : n;
}

// Money shown to people is rounded half-even to the currency's minor unit (Intl knows each
// currency's); the exact decimal string stays in data-amount and shows on hover. Prices
// (per token, per unit, per outcome) keep every digit they have.
export const NOT_TRACKED = "Not tracked: the tracking mode leaves it out, or nothing that produces it has been recorded yet";
const fmtCache = new Map();
export function moneyFormat(currency, exact) {
  const key = `${currency}|${exact}`;
  if (!fmtCache.has(key)) {
    const opts = { roundingMode: "halfEven" };
    if (currency) Object.assign(opts, { style: "currency", currency });
    else opts.maximumFractionDigits = 2;
    if (exact) opts.maximumFractionDigits = 9;
    let f;
    try {
      f = new Intl.NumberFormat(undefined, opts);
    } catch {
      f = new Intl.NumberFormat(undefined, { maximumFractionDigits: exact ? 9 : 2 });
    }
    fmtCache.set(key, f);
  }
  return fmtCache.get(key);
}
export function fmtMoney(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "—";
  const f = moneyFormat(currency, false);
  const digits = f.resolvedOptions().maximumFractionDigits;
  const nanos = toNanos(amount);
  const half = 10n ** BigInt(9 - digits) / 2n;
  // Not zero, but less than the smallest coin: say so rather than show a zero.
  if (nanos !== 0n && (nanos < 0n ? -nanos : nanos) <= half) {
    const unit = f.format(digits ? `0.${"0".repeat(digits - 1)}1` : "1");
    return nanos > 0n ? `< ${unit}` : `> -${unit}`;
  }
  return f.format(String(amount));
}
export const fmtPrice = (amount, currency) => (amount == null || amount === "" ? "—" : moneyFormat(currency, true).format(String(amount)));
export const fmtInt = (n) => (n === null || n === undefined ? "—" : new Intl.NumberFormat().format(n));
export function fmtPct(p) {
  if (p === null || p === undefined) return "—";
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(String(p)) + " %";
}
export function fmtTime(iso) {
  if (!iso) return "—";
  // Times are RFC 3339 strings; a bare number is microseconds since the epoch.
  const d = typeof iso === "number" ? new Date(iso / 1000) : new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: period().tz });
}
export const signClass = (s) => (s == null ? "" : String(s).startsWith("-") ? "neg" : toNanos(s) === 0n ? "" : "pos");
// {currency: amount} maps, as the API returns per-currency totals.
export function moneyMap(m) {
  const e = Object.entries(m || {});
  return e.length ? e.map(([c, a], i) => [i ? " + " : "", money(a, c)]) : "—";
}
export function money(amount, currency) {
  const title = amount == null ? NOT_TRACKED : `${amount} ${currency || ""}`.trim();
  return h("span", { class: "num", title, dataset: { amount: amount ?? "", currency: currency ?? "" } }, fmtMoney(amount, currency));
}
export function price(amount, currency) {
  return h("span", { class: "num", title: amount == null ? null : `${amount} ${currency || ""}`.trim(), dataset: { amount: amount ?? "", currency: currency ?? "" } }, fmtPrice(amount, currency));
}
