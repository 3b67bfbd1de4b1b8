"""Sign-in, server-side sessions, page guards, the CSRF check, security headers and packaged
assets (in-process, no browser)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from fastapi.testclient import TestClient

from margin.store.keys import list_keys, revoke_key

PAGES = [
    "/",
    "/customers",
    "/customers/cus_x",
    "/agents",
    "/agents/agt_x",
    "/signals",
    "/traces/" + "a" * 32,
    "/invoices",
    "/invoices/inv_x",
    "/prices",
    "/plans",
    "/keys",
    "/organization",
]


@pytest.fixture
def web(api: Any) -> Iterator[TestClient]:
    """A browser-like client of the same app: its own cookie jar, redirects not followed."""
    with TestClient(api.client.app, follow_redirects=False) as client:
        yield client


def _session(api: Any, scope: str = "read") -> str:
    """A session token, from signing in with the tenant's key of ``scope``."""
    with TestClient(api.client.app, follow_redirects=False) as client:
        r = client.post("/session", json={"api_key": api.tenant.keys[scope]})
        assert r.status_code == 200, r.text
        token: str = r.cookies["margin_session"]
    return token


def _cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"margin_session={token}"}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_redirects_to_login_without_a_session(web: TestClient, path: str) -> None:
    r = web.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_a_session(web: TestClient, api: Any, path: str) -> None:
    r = web.get(path, headers=_cookie(_session(api)))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'data-scope="read"' in r.text
    assert "/dashboard/static/app.js" in r.text


def test_the_login_page_is_a_form(web: TestClient) -> None:
    r = web.get("/login?next=/customers")
    assert r.status_code == 200
    assert 'action="/session"' in r.text
    assert 'name="next" value="/customers"' in r.text


def test_form_sign_in_sets_a_strict_http_only_session_cookie(web: TestClient, api: Any) -> None:
    key = api.tenant.keys["admin"]
    r = web.post("/session", data={"api_key": key, "next": "/customers"})
    assert r.status_code == 303
    assert r.headers["location"] == "/customers"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("margin_session=mgs_")
    assert key not in cookie  # a random session token, never the key itself
    for flag in ("HttpOnly", "Path=/", "SameSite=strict", "Max-Age=43200"):
        assert flag in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert web.get("/").status_code == 200  # the jar now holds the session


def test_the_cookie_is_secure_over_https(api: Any) -> None:
    with TestClient(api.client.app, base_url="https://testserver", follow_redirects=False) as c:
        r = c.post("/session", json={"api_key": api.tenant.keys["read"]})
    assert r.status_code == 200
    assert r.json() == {"org_id": api.tenant.org_id, "scope": "read"}
    assert "Secure" in r.headers["set-cookie"]


def test_json_sign_in(web: TestClient, api: Any) -> None:
    r = web.post("/session", json={"api_key": api.tenant.keys["admin"]})
    assert r.status_code == 200
    assert r.json()["scope"] == "admin"
    assert web.get("/v1/customers").status_code == 200  # the cookie authenticates the API


def test_a_bad_key_is_refused(web: TestClient) -> None:
    r = web.post("/session", data={"api_key": "mgn_admin_nope"})
    assert r.status_code == 401
    assert "unknown or revoked API key" in r.text
    assert "set-cookie" not in r.headers
    r = web.post("/session", json={"api_key": "mgn_admin_nope"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "api_key"


def test_an_empty_or_malformed_sign_in_is_refused(web: TestClient) -> None:
    assert web.post("/session", data={"api_key": ""}).status_code == 401
    r = web.post("/session", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert web.post("/session", json={"key": "x"}).json()["field"] == "api_key"


def test_an_ingest_key_cannot_sign_in(web: TestClient, api: Any) -> None:
    r = web.post("/session", data={"api_key": api.tenant.keys["ingest"]})
    assert r.status_code == 403
    assert "ingest key cannot sign in" in r.text
    assert "set-cookie" not in r.headers
    assert web.post("/session", json={"api_key": api.tenant.keys["ingest"]}).status_code == 403


def test_a_key_in_the_cookie_opens_nothing(web: TestClient, api: Any) -> None:
    # The cookie holds a session token; a key put there (as the cookie once held) is refused.
    for scope in ("ingest", "read", "admin"):
        key = api.tenant.keys[scope]
        assert web.get("/", headers=_cookie(key)).status_code == 303
        assert web.get("/v1/customers", headers=_cookie(key)).status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(web: TestClient, api: Any, target: str) -> None:
    r = web.post("/session", data={"api_key": api.tenant.keys["read"], "next": target})
    assert r.headers["location"] == "/"


def test_logout_clears_the_cookie(web: TestClient, api: Any) -> None:
    web.post("/session", data={"api_key": api.tenant.keys["admin"]})
    r = web.post("/session/logout")
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert 'margin_session="";' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert web.get("/").status_code == 303


def test_a_cookie_replayed_after_logout_is_refused(web: TestClient, api: Any) -> None:
    token = _session(api, "admin")
    assert web.get("/v1/customers", headers=_cookie(token)).status_code == 200
    assert web.post("/session/logout", headers=_cookie(token)).status_code == 303
    # The browser forgot the cookie; an attacker who copied it replays it.
    page = web.get("/customers", headers=_cookie(token))
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    api_call = web.get("/v1/customers", headers=_cookie(token))
    assert api_call.status_code == 401
    assert api_call.json()["field"] == "cookie"


def test_revoking_the_key_ends_its_sessions(web: TestClient, api: Any) -> None:
    token, other = _session(api, "read"), _session(api, "admin")
    with api.db.write() as conn:
        read_key = next(k for k in list_keys(conn, api.tenant.org_id) if k.scope == "read")
        assert revoke_key(conn, read_key.id)
    assert web.get("/", headers=_cookie(token)).status_code == 303
    assert web.get("/v1/customers", headers=_cookie(token)).status_code == 401
    assert web.get("/", headers=_cookie(other)).status_code == 200  # another key's session


def test_a_session_expires_after_its_lifetime(web: TestClient, api: Any) -> None:
    state = api.client.app.state.margin
    start = 1_800_000_000_000_000
    state.clock = lambda: start
    token = _session(api)
    ttl_us = api.settings.session_ttl_seconds * 1_000_000
    state.clock = lambda: start + ttl_us - 1
    assert web.get("/", headers=_cookie(token)).status_code == 200
    assert web.get("/v1/customers", headers=_cookie(token)).status_code == 200
    state.clock = lambda: start + ttl_us
    assert web.get("/", headers=_cookie(token)).status_code == 303
    assert web.get("/v1/customers", headers=_cookie(token)).status_code == 401


def test_signed_in_login_page_goes_home(web: TestClient, api: Any) -> None:
    r = web.get("/login", headers=_cookie(_session(api)))
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_cookie_state_changes_need_the_csrf_header(web: TestClient, api: Any) -> None:
    cookie = _cookie(_session(api, "admin"))
    r = web.post("/v1/customers", json={"external_id": "c1"}, headers=cookie)
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "x-margin-csrf"
    listed = web.get("/v1/customers", params={"external_id": "c1"}, headers=cookie)
    assert listed.json()["data"] == []
    ok = web.post(
        "/v1/customers", json={"external_id": "c1"}, headers={**cookie, "X-Margin-CSRF": "1"}
    )
    assert ok.status_code == 201
    assert web.get("/v1/customers", headers=cookie).status_code == 200  # reads need nothing


def test_an_empty_bearer_does_not_skip_the_csrf_check(web: TestClient, api: Any) -> None:
    headers = {**_cookie(_session(api, "admin")), "Authorization": "Bearer  "}
    assert web.post("/v1/customers", json={"external_id": "c3"}, headers=headers).status_code == 403


def test_the_csrf_check_reads_the_cookie_authentication_reads(web: TestClient, api: Any) -> None:
    # Two Cookie headers: whichever one authentication reads, the CSRF rule reads it too.
    token = _session(api, "admin")
    for headers in (
        [("cookie", f"margin_session={token}"), ("cookie", "other=1")],
        [("cookie", "other=1"), ("cookie", f"margin_session={token}")],
        [("cookie", f"xmargin_session=1; margin_session={token}")],
    ):
        r = web.post("/v1/customers", json={"external_id": "c4"}, headers=headers)
        assert r.status_code in (401, 403), headers
    listed = web.get("/v1/customers", params={"external_id": "c4"}, headers=_cookie(token))
    assert listed.json()["data"] == []


def test_sign_in_and_out_from_another_site_are_refused(web: TestClient, api: Any) -> None:
    evil = {"Origin": "https://evil.example"}
    r = web.post("/session", data={"api_key": api.tenant.keys["admin"]}, headers=evil)
    assert r.status_code == 403
    assert "set-cookie" not in r.headers
    assert web.post("/session/logout", headers=evil).status_code == 403
    same = {"Origin": "http://testserver"}
    assert (
        web.post("/session", data={"api_key": api.tenant.keys["admin"]}, headers=same).status_code
        == 303
    )


def test_bearer_calls_are_not_affected_by_the_csrf_check(web: TestClient, api: Any) -> None:
    r = web.post("/v1/customers", json={"external_id": "c2"}, headers=api.tenant.headers("admin"))
    assert r.status_code == 201


def _scripts() -> list[str]:
    """Every script of the dashboard, as a path under static/ (the entry, lib/ and pages/)."""
    static = resources.files("margin.dashboard") / "static"
    found = ["app.js"]
    for folder in ("lib", "pages"):
        found += sorted(
            f"{folder}/{f.name}" for f in (static / folder).iterdir() if f.name.endswith(".js")
        )
    return found


def test_assets_are_package_data_and_served(web: TestClient) -> None:
    static = resources.files("margin.dashboard") / "static"
    scripts = _scripts()
    # The entry, what pages share, and one module per page.
    for name in ("lib/api.js", "lib/format.js", "lib/table.js", "lib/chart.js"):
        assert name in scripts
    for name in ("overview", "parties", "party", "signals", "trace", "invoices", "prices"):
        assert f"pages/{name}.js" in scripts
    for name in (
        *scripts,
        "margin.css",
        "favicon.svg",
        "vendor/uPlot.iife.min.js",
        "vendor/uPlot.min.css",
        "vendor/uPlot.LICENSE",
    ):
        assert (static / name).is_file(), name
        r = web.get(f"/dashboard/static/{name}")
        assert r.status_code == 200, name
        if name.endswith(".js"):
            assert r.headers["content-type"].startswith(
                ("text/javascript", "application/javascript")
            )
    assert "MIT" in (static / "vendor" / "uPlot.LICENSE").read_text()


def test_every_response_carries_the_security_headers(web: TestClient, api: Any) -> None:
    for r in (
        web.get("/login"),
        web.get("/", headers=_cookie(_session(api))),
        web.get("/v1/customers", headers=api.tenant.headers("read")),
        web.get("/v1/nothing-here"),
        web.get("/dashboard/static/app.js"),
    ):
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("style-src-attr")[0]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_pages_load_nothing_from_the_web(web: TestClient, api: Any) -> None:
    page = web.get("/", headers=_cookie(_session(api))).text
    login = web.get("/login").text
    for html in (page, login):
        assert "http://" not in html
        assert "https://" not in html
    for name in _scripts():
        script = (resources.files("margin.dashboard") / "static" / name).read_text()
        assert "http://" not in script, name
        assert "https://" not in script, name
