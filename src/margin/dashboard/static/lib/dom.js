// The page the server rendered (its name, the id it shows, the signed-in scope) and small
// DOM builders every page uses.

export const PAGE = document.body.dataset.page;
export const ID = document.body.dataset.id;
export const IS_ADMIN = document.body.dataset.scope === "admin";
export const main = document.getElementById("main");

// h("a", {href, onclick, class, dataset}, ...children): null, undefined and false are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
export const link = (href, text) => h("a", { href }, text);
export const card = (title, ...children) => h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
export const notice = (text) => h("p", { class: "notice" }, text);
export const unavailable = (what) =>
  h("p", { class: "notice unavailable", dataset: { unavailable: what } },
    `Not available on this server yet: ${what}.`);
export const badge = (text, kind = "") => h("span", { class: `badge ${kind}` }, text);
export function pageHead(title, sub, ...right) {
  return h("div", { class: "head" }, h("div", {}, h("h1", {}, title), sub ? h("p", { class: "muted small", style: "margin:0" }, sub) : null), ...right);
}
