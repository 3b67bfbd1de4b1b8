"""Pages in Chromium with every request outside 127.0.0.1 aborted: the API docs (Swagger UI
at /docs, ReDoc at /redoc) render from the package's assets, not a CDN, and neither they nor
the dashboard break their content security policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from dashboard_support import DESKTOP, SCREENSHOTS, SLOW_MS, Server, sign_in, wait_ready

pytestmark = pytest.mark.browser


def _offline_page(browser: Any) -> tuple[Any, Any, list[str], list[str]]:
    """A page whose requests off this machine are aborted (and recorded), and whose console
    errors (a refused CSP source among them) are recorded."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(SLOW_MS)
    outside: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, outside, errors


def _operations(server: Server) -> dict[tuple[str, str], str]:
    """(METHOD, path) → operationId of every operation in the OpenAPI document."""
    spec = server.get("/openapi.json")
    methods = {"get", "post", "put", "patch", "delete", "head", "options"}
    return {
        (m.upper(), path): op["operationId"]
        for path, item in spec["paths"].items()
        for m, op in item.items()
        if m in methods
    }


def test_swagger_ui_renders_every_operation_offline(browser: Any, server: Server) -> None:
    context, page, outside, errors = _offline_page(browser)
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    blocks = page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(b => [
            b.querySelector('.opblock-summary-method').textContent,
            b.querySelector('.opblock-summary-path').dataset.path])""",
    )
    assert {tuple(b) for b in blocks} == set(_operations(server))
    assert "Margin" in page.locator(".info .title").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "swagger.png"))
    context.close()
    assert outside == []
    assert errors == []


def test_redoc_renders_every_operation_offline(browser: Any, server: Server) -> None:
    context, page, outside, errors = _offline_page(browser)
    page.goto(server.url + "/redoc")
    page.wait_for_selector("[data-section-id^='operation/']")
    ids = page.eval_on_selector_all(
        "[data-section-id^='operation/']", "els => els.map(e => e.dataset.sectionId)"
    )
    assert {i.split("/", 1)[1] for i in ids} == set(_operations(server).values())
    heading = page.locator("[data-section-id$='/list__v1_customers_get'] h2").first
    assert heading.inner_text() == "List customers"
    page.screenshot(path=str(SCREENSHOTS / "redoc.png"))
    context.close()
    assert outside == []
    # ReDoc always shows its maker's logo from its CDN; the policy refuses it (nothing is
    # fetched from outside) and ReDoc drops the image. Any other error fails the test.
    assert [e for e in errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []


def test_dashboard_pages_keep_to_their_content_security_policy(
    browser: Any, server: Server
) -> None:
    context, page, outside, errors = _offline_page(browser)
    sign_in(page, server, server.keys["admin"])
    # Every page module (static/pages/) loads from the package, with the web blocked.
    pages = ("/", "/customers", "/agents", "/signals", "/invoices", "/prices", "/simulate")
    manage = ("/plans", "/orders", "/meters", "/keys", "/organization", "/control")
    customer = server.get("/v1/customers")["data"][0]["id"]
    agent = server.get("/v1/agents")["data"][0]["id"]
    details = (f"/customers/{customer}", f"/agents/{agent}")
    for path in (*pages, *manage, *details):
        page.goto(server.url + path)
        wait_ready(page)
        assert page.locator("main h1").first.is_visible(), path
    context.close()
    assert outside == []
    assert [e for e in errors if "Content Security Policy" in e] == []
