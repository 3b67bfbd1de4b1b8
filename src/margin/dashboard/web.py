"""The dashboard's routes: sign-in, the page shells, the static assets and a CSRF guard.

Pages are server-rendered shells; the data on them is fetched by the browser from the same
``/v1`` JSON API any client uses, authenticated by the ``margin_session`` cookie that
``POST /session`` sets (``margin.server.auth`` accepts it beside ``Authorization: Bearer``,
and refuses cookie-authenticated changes without the ``X-Margin-CSRF`` header). The cookie
holds a server-side session's random token, never the key; signing out ends the session.
There is no private path into the store: the only store access here is the sign-in.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from margin._version import __version__
from margin.server.auth import COOKIE, CSRF_HEADER, session_from_request, session_token
from margin.server.problems import Problem, problem_response
from margin.server.state import AppState
from margin.store.keys import Principal, authenticate
from margin.store.sessions import open_session, revoke_session

__all__ = ["COOKIE", "CSRF_HEADER", "mount"]

STATIC_PREFIX = "/dashboard/static"

# page name -> (title, nav entry it highlights)
_PAGES: dict[str, tuple[str, str]] = {
    "overview": ("Overview", "overview"),
    "customers": ("Customers", "customers"),
    "customer": ("Customer", "customers"),
    "agents": ("Agents", "agents"),
    "agent": ("Agent", "agents"),
    "signals": ("Signals & traces", "signals"),
    "trace": ("Trace", "signals"),
    "invoices": ("Invoices", "invoices"),
    "invoice": ("Invoice", "invoices"),
    "prices": ("Prices", "prices"),
    "simulate": ("Pricing simulator", "simulate"),
    # Management: plans, orders, meters, API keys and the organization's settings, one "Manage"
    # nav entry with tabs.
    "plans": ("Plans", "manage"),
    "orders": ("Orders", "manage"),
    "meters": ("Meters", "manage"),
    "keys": ("API keys", "manage"),
    "organization": ("Organization", "manage"),
    "control": ("Control", "control"),
}
_NAV = (
    ("overview", "/", "Overview"),
    ("customers", "/customers", "Customers"),
    ("agents", "/agents", "Agents"),
    ("signals", "/signals", "Signals"),
    ("invoices", "/invoices", "Invoices"),
    ("prices", "/prices", "Prices"),
    ("simulate", "/simulate", "Simulator"),
    ("manage", "/plans", "Manage"),
    ("control", "/control", "Control"),
)


def _template(name: str) -> str:
    return (resources.files("margin.dashboard") / "templates" / name).read_text("utf-8")


def _cross_site(request: Request) -> bool:
    """Whether a browser says this request comes from another site (``Origin`` differs).

    Only the host is compared, not the scheme, so a TLS-terminating proxy does not lock
    people out; SameSite=Strict already keeps the cookie off cross-site requests, this
    guards the sign-in and sign-out forms themselves (login CSRF)."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


def _session_principal(request: Request) -> Principal | None:
    """The principal behind the session cookie, if the session is live."""
    principal = session_from_request(request)
    if principal is None or principal.scope not in ("read", "admin"):
        return None
    return principal


def _login_page(error: str = "", status: int = 200, next_url: str = "/") -> HTMLResponse:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        _template("login.html")
        .replace("{{static}}", STATIC_PREFIX)
        .replace("{{version}}", html.escape(__version__))
        .replace("{{error}}", message)
        .replace("{{next}}", html.escape(next_url, quote=True))
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _safe_next(value: Any) -> str:
    # Only same-site paths: an open redirect after sign-in would help phishing.
    text = str(value or "/")
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    return text


def _page(request: Request, page: str, ident: str = "") -> Response:
    principal = _session_principal(request)
    if principal is None:
        target = "/login?next=" + quote(request.url.path, safe="/")
        return RedirectResponse(target, status_code=303)
    title, active = _PAGES[page]
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if key == active else ""}>{label}</a>'
        for key, href, label in _NAV
    )
    body = (
        _template("shell.html")
        .replace("{{static}}", STATIC_PREFIX)
        .replace("{{title}}", html.escape(title))
        .replace("{{nav}}", nav)
        .replace("{{page}}", page)
        .replace("{{id}}", html.escape(ident, quote=True))
        .replace("{{scope}}", principal.scope)
        .replace("{{version}}", html.escape(__version__))
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


async def _read_api_key(request: Request) -> tuple[str, bool, str]:
    """The submitted key, whether the body was JSON, and where to go next."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise Problem(400, "body is not valid JSON", field="body") from None
        if not isinstance(body, dict) or not isinstance(body.get("api_key"), str):
            raise Problem(422, "api_key is required", field="api_key")
        return body["api_key"].strip(), True, "/"
    form = await request.form()
    key = form.get("api_key")
    return (key.strip() if isinstance(key, str) else ""), False, _safe_next(form.get("next"))


def mount(app: FastAPI) -> None:
    """Add the dashboard to ``app``: pages, sign-in/out and static files."""
    app.mount(
        STATIC_PREFIX,
        StaticFiles(packages=[("margin.dashboard", "static")]),
        name="dashboard-static",
    )

    @app.get("/login", include_in_schema=False)
    def login(request: Request) -> Response:
        if _session_principal(request) is not None:
            return RedirectResponse("/", status_code=303)
        return _login_page(next_url=_safe_next(request.query_params.get("next")))

    @app.post("/session", include_in_schema=False)
    async def create_session(request: Request) -> Response:
        if _cross_site(request):
            return problem_response(Problem(403, "sign-in from another site", field="origin"))
        key, as_json, next_url = await _read_api_key(request)
        principal = None
        if key:
            with AppState.of(request).db.read() as conn:
                principal = authenticate(conn, key)
        if principal is None or principal.scope not in ("read", "admin"):
            if principal is None:
                status, detail = 401, "unknown or revoked API key"
            else:
                status = 403
                detail = "an ingest key cannot sign in: use a read or admin key"
            if as_json:
                return problem_response(Problem(status, detail, field="api_key"))
            return _login_page(detail, status, next_url)
        state = AppState.of(request)
        ttl = state.settings.session_ttl_seconds
        with state.db.write() as conn:
            token = open_session(conn, principal, now=state.clock(), ttl_us=ttl * 1_000_000)
        response: Response
        if as_json:
            response = Response(
                orjson.dumps({"org_id": principal.org_id, "scope": principal.scope}),
                media_type="application/json",
            )
        else:
            response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            max_age=ttl,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.post("/session/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        if _cross_site(request):
            return problem_response(Problem(403, "sign-out from another site", field="origin"))
        token = session_token(request)
        if token:
            state = AppState.of(request)
            with state.db.write() as conn:
                revoke_session(conn, token, now=state.clock())
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/", include_in_schema=False)
    def overview(request: Request) -> Response:
        return _page(request, "overview")

    for name, plural in (
        ("customer", "customers"),
        ("agent", "agents"),
        ("invoice", "invoices"),
    ):
        _add_list_and_detail(app, name, plural)

    @app.get("/signals", include_in_schema=False)
    def signals(request: Request) -> Response:
        return _page(request, "signals")

    @app.get("/traces/{trace_id}", include_in_schema=False)
    def trace(request: Request, trace_id: str) -> Response:
        return _page(request, "trace", trace_id)

    @app.get("/prices", include_in_schema=False)
    def prices(request: Request) -> Response:
        return _page(request, "prices")

    for name in ("simulate", "plans", "orders", "meters", "keys", "organization", "control"):
        _add_page(app, name)


def _add_page(app: FastAPI, name: str) -> None:
    def show(request: Request) -> Response:
        return _page(request, name)

    app.add_api_route(f"/{name}", show, methods=["GET"], include_in_schema=False)


def _add_list_and_detail(app: FastAPI, name: str, plural: str) -> None:
    def listing(request: Request) -> Response:
        return _page(request, plural)

    def detail(request: Request, item_id: str) -> Response:
        return _page(request, name, item_id)

    app.add_api_route(f"/{plural}", listing, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"/{plural}/{{item_id}}", detail, methods=["GET"], include_in_schema=False)
