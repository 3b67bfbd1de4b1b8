"""The dashboard in a real browser against a real ``margin serve --demo``."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from dashboard_support import (
    DESKTOP,
    PHONE,
    SLOW_MS,
    Server,
    assert_fits,
    overflowing_tables,
    shoot,
    sign_in,
    wait_ready,
)
from pypdf import PdfReader

pytestmark = pytest.mark.browser

PAGES = ["/", "/customers", "/agents", "/signals", "/invoices", "/prices", "/customers/x"]


def _exists(server: Server, method: str, path: str) -> bool:
    """Whether the server has a route (an unknown route answers a bare 'Not Found')."""
    with server.client() as c:
        r = c.request(method, path)
    return not (
        r.status_code == 405 or (r.status_code == 404 and r.json()["detail"] == "Not Found")
    )


def test_without_a_session_every_page_redirects_to_login(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(SLOW_MS)
    page = context.new_page()
    for path in PAGES:
        page.goto(server.url + path)
        assert page.url.startswith(server.url + "/login"), path
    assert page.locator("#api_key").is_visible()
    shoot(page, "login")
    context.close()


def test_a_bad_key_is_refused(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(SLOW_MS)
    page = context.new_page()
    sign_in(page, server, "mgn_admin_not-a-real-key")
    assert "/login" in page.url or page.url.endswith("/session")
    assert "unknown or revoked" in page.locator("[role=alert]").inner_text()
    page.goto(server.url + "/")
    assert "/login" in page.url
    context.close()


def test_an_ingest_key_is_refused(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(SLOW_MS)
    page = context.new_page()
    sign_in(page, server, server.keys["ingest"])
    assert "ingest key cannot sign in" in page.locator("[role=alert]").inner_text()
    assert not [c for c in context.cookies() if c["name"] == "margin_session"]
    page.goto(server.url + "/customers")
    assert "/login" in page.url
    context.close()


def test_a_read_key_signs_in_without_admin_actions(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(SLOW_MS)
    page = context.new_page()
    sign_in(page, server, server.keys["read"])
    wait_ready(page)
    assert page.locator("header .scope").inner_text().lower() == "read"
    page.goto(server.url + "/invoices")
    wait_ready(page)
    assert page.locator("#generate").count() == 0
    # The management pages show, but offer no change, to a read key.
    for path, form in (("/keys", "#new-key"), ("/plans", "#new-plan"), ("/meters", "#meter-form")):
        page.goto(server.url + path)
        wait_ready(page)
        assert page.locator(form).count() == 0, path
        assert page.locator("text=Sign in with an admin key").first.is_visible(), path
    # The organization's settings show, every field locked, with no Save.
    page.goto(server.url + "/organization")
    wait_ready(page)
    fields = page.locator("#organization-form input, #organization-form textarea")
    assert fields.count() == 6
    assert all(fields.nth(i).is_disabled() for i in range(6))
    assert page.locator("#organization-form button[type=submit]").count() == 0
    context.close()


def test_overview_totals_match_the_reports_api(page: Any, server: Server) -> None:
    wait_ready(page)
    totals = page.locator("#totals")
    cost = page.locator("[data-kpi=cost] .value").first
    amount, currency = cost.get_attribute("data-amount"), cost.get_attribute("data-currency")
    lo, hi = totals.get_attribute("data-from"), totals.get_attribute("data-to")
    assert amount
    assert currency
    assert lo
    assert hi
    # The same question, asked of the API with the same key.
    report = server.get("/v1/reports/overview", **{"from": lo, "to": hi, "tz": "UTC"})
    expected = {t["currency"]: t["cost"] for t in report["totals"]}
    first = report["totals"][0]
    for kpi, field in (("revenue", "revenue"), ("profit", "profit"), ("margin", "margin_pct")):
        shown = page.locator(f"[data-kpi={kpi}] .value").first.get_attribute("data-amount")
        assert shown == (first[field] or ""), kpi
    assert expected[currency] == amount
    assert amount != "0"
    # Shown rounded half-even to the cent, with the exact amount on hover.
    cents = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert cost.inner_text() == f"${cents:,}"
    assert cost.get_attribute("title") == f"{amount} USD"
    # The headline profit explains itself: Umbrella Health is a cost-only customer.
    notes = page.locator("#explained").inner_text()
    assert first["notes"]
    for note in first["notes"]:
        assert note in notes
    assert "cost-only customer" in notes
    parts = sum(Decimal(p["amount"]) for p in first["parts"])
    assert parts == Decimal(first["profit"])
    assert page.locator("#cost-by-source [data-source=ai]").is_visible()
    page.wait_for_selector("#chart canvas")
    # Cost and revenue each on their own scale: cost is not a flat line on revenue's.
    chart = page.locator("#chart")
    assert chart.get_attribute("data-scales") == "cost,revenue"
    assert int(chart.get_attribute("data-points") or 0) == len(
        {s["date"] for s in report["series"]}
    )
    assert page.locator("text=Top customers by profit").is_visible()
    assert page.locator("text=Acme Corp").first.is_visible()
    shoot(page, "overview")
    shoot(page, "overview-phone", phone=True)
    assert_fits(page, PHONE["width"])


def test_period_presets_change_the_period(page: Any, server: Server) -> None:
    wait_ready(page)
    page.click("#period button:has-text('7 days')")
    page.wait_for_url("**/?*range=7d*")
    wait_ready(page)
    lo = datetime.fromisoformat(page.locator("#totals").get_attribute("data-from"))
    hi = datetime.fromisoformat(page.locator("#totals").get_attribute("data-to"))
    assert timedelta(days=6) < hi - lo <= timedelta(days=7, hours=1)
    # Days start at midnight in the chosen time zone: 00:00 in Tokyo is 15:00 UTC.
    page.select_option("#period select", "Asia/Tokyo")
    page.wait_for_url("**/?*tz=Asia*")
    wait_ready(page)
    lo = datetime.fromisoformat(page.locator("#totals").get_attribute("data-from"))
    assert (lo.hour, lo.minute) == (15, 0)
    assert "Asia/Tokyo" in page.locator(".head p").first.inner_text()
    page.evaluate("localStorage.clear()")


def test_customers_table_and_a_customer_page(page: Any, server: Server) -> None:
    page.goto(server.url + "/customers")
    wait_ready(page)
    table = page.locator("#customers-table table")
    assert table.locator("tbody tr").count() >= 4
    page.fill("#customers-table input[type=search]", "glob")
    assert table.locator("tbody tr").count() == 1
    page.fill("#customers-table input[type=search]", "")
    table.locator("th:has-text('Cost')").click()
    assert table.locator("th:has-text('Cost')").get_attribute("aria-sort") in (
        "ascending",
        "descending",
    )
    shoot(page, "customers")
    page.click("text=Acme Corp")
    page.wait_for_url("**/customers/cus_*")
    wait_ready(page)
    assert page.locator("h1").inner_text() == "Acme Corp"
    cust_id = page.url.rsplit("/", 1)[1]
    lo = page.evaluate("new URL(location.href).search")  # period comes from local state
    assert lo is not None
    cost = page.locator("[data-kpi=cost] .value").first
    report = server.get("/v1/reports/summary", group_by="customer")
    mine = [g for g in report["rows"] if g["key"] == cust_id and g["currency"]]
    assert mine
    assert cost.get_attribute("data-amount")
    page.wait_for_selector("#chart canvas")
    # Every column of every card is in sight on a desktop ("Revenue / outcome" was clipped).
    assert page.locator("#by-signal th:has-text('Revenue / outcome')").is_visible()
    assert overflowing_tables(page) == 0
    assert page.locator("#tracking-mode").inner_text() == "auto"
    shoot(page, "customer")
    shoot(page, "customer-phone", phone=True)
    assert_fits(page, PHONE["width"])


def test_agents_table_and_an_agent_page(page: Any, server: Server) -> None:
    page.goto(server.url + "/agents")
    wait_ready(page)
    assert page.locator("#agents-table tbody tr").count() >= 1
    shoot(page, "agents")
    page.click("#agents-table a:has-text('AI SDR')")
    page.wait_for_url("**/agents/*")
    wait_ready(page)
    assert page.locator("h1").inner_text() == "AI SDR"
    assert overflowing_tables(page) == 0
    # The agent's recent traces come from lists the server filters by agent and period.
    links = page.locator("#recent-traces tbody a")
    assert links.count() >= 1
    mine: set[str] = set()
    cursor = None
    while True:
        page_ = server.get(
            "/v1/signals", agent="ai-sdr", limit=500, **({"cursor": cursor} if cursor else {})
        )
        mine.update(s["trace_id"] for s in page_["data"])
        if not (cursor := page_["next_cursor"]):
            break
    for href in links.evaluate_all("(as) => as.map((a) => a.getAttribute('href'))"):
        assert href.rsplit("/", 1)[1] in mine
    # Each trace's cost is the server's total for it, not a sum made in the page.
    shown = page.locator("#recent-traces tbody tr").evaluate_all(
        "(rows) => rows.map((r) => [r.querySelector('a').getAttribute('href'),"
        " r.querySelector('[data-amount]').dataset.amount,"
        " r.querySelector('[data-amount]').dataset.currency])"
    )
    for href, amount, currency in shown:
        total = server.get(f"/v1/traces/{href.rsplit('/', 1)[1]}")["attribution"]["cost_total"]
        assert (total.get(currency) if total else None) == (amount or None)
    shoot(page, "agent")


def test_a_trace_shows_its_attributed_signal(page: Any, server: Server) -> None:
    trace_id = secrets.token_hex(16)
    at = datetime.now(UTC) - timedelta(hours=2)
    with server.client() as c:
        cost = {
            "customer": "acme",
            "agent": "ai-sdr",
            "trace_id": trace_id,
            "span_id": secrets.token_hex(8),
            "provider": "openai",
            "model": "gpt-4o-mini",
            "usage": {"input_tokens": 1200, "output_tokens": 300},
            "timestamp": at.isoformat(),
        }
        signal = {
            "customer": "acme",
            "agent": "ai-sdr",
            "event_name": "meeting_booked",
            "trace_id": trace_id,
            "cost_tracing": True,
            "timestamp": (at + timedelta(seconds=5)).isoformat(),
        }
        assert c.post("/v1/costs", json=cost).status_code in (200, 201)
        assert c.post("/v1/signals", json=signal).status_code in (200, 201)
    page.goto(f"{server.url}/traces/{trace_id}")
    wait_ready(page)
    if not _exists(server, "GET", f"/v1/traces/{trace_id}"):
        assert page.locator("[data-unavailable]").is_visible()
        shoot(page, "trace")
        pytest.skip("GET /v1/traces/{trace_id} is not on this server yet")
    attribution = page.locator("#attribution")
    assert "meeting_booked" in attribution.inner_text()
    assert page.locator("text=gpt-4o-mini").first.is_visible()
    assert page.locator("text=attributed").first.is_visible()
    shoot(page, "trace")
    shoot(page, "trace-phone", phone=True)


def test_warnings_link_to_flagged_traces_and_unpriced_costs(page: Any, server: Server) -> None:
    trace_id = secrets.token_hex(16)
    at = datetime.now(UTC) - timedelta(hours=1)
    costs = [
        {
            "customer": "globex",
            "agent": "ai-sdr",
            "trace_id": trace_id,
            "provider": "openai",
            "model": "gpt-4o",
            "amount": "0.125",
            "currency": "USD",
            "timestamp": at.isoformat(),
        },
        {
            # A model no price book knows: stored unpriced, never as a silent zero.
            "customer": "globex",
            "agent": "ai-sdr",
            "provider": "acme-ai",
            "model": "mystery-model-1",
            "usage": {"input_tokens": 10, "output_tokens": 5},
            "timestamp": at.isoformat(),
        },
        {
            # A cost whose trace names no customer: its own warning.
            "agent": "ai-sdr",
            "amount": "0.25",
            "currency": "USD",
            "timestamp": at.isoformat(),
        },
    ]
    signals = [
        {
            "customer": "globex",
            "agent": "ai-sdr",
            "event_name": name,
            "trace_id": trace_id,
            "cost_tracing": True,
            "timestamp": (at + timedelta(seconds=i)).isoformat(),
        }
        for i, name in enumerate(["meeting_booked", "email_sent"])
    ]
    with server.client() as c:
        assert c.post("/v1/costs", json={"items": costs}).status_code == 200
        assert c.post("/v1/signals", json={"items": signals}).status_code == 200
    page.goto(server.url + "/")
    wait_ready(page)
    unpriced = page.locator("[data-warning=unpriced]")
    lo = page.locator("#totals").get_attribute("data-from")
    hi = page.locator("#totals").get_attribute("data-to")
    report = server.get("/v1/reports/overview", **{"from": lo, "to": hi, "tz": "UTC"})
    assert f"{report['unpriced']['records']} cost record(s) are unpriced" in unpriced.inner_text()
    unassigned = page.locator("[data-warning=unassigned]").inner_text()
    assert f"{report['unassigned'][0]['records']} record(s)) belongs to no customer" in unassigned
    assert "margin attribution set" in unassigned
    flagged = page.locator("[data-warning=flagged]")
    assert "several cost-tracing signals" in flagged.inner_text()
    shoot(page, "overview-warnings")
    flagged.locator(f"a[href='/traces/{trace_id}']").click()
    page.wait_for_url(f"**/traces/{trace_id}")
    wait_ready(page)
    attribution = page.locator("#attribution").inner_text()
    assert "Flagged" in attribution
    assert "meeting_booked" in attribution  # the earliest wins
    page.goto(server.url + "/signals")
    wait_ready(page)
    assert "mystery-model-1" in page.locator("#unpriced").inner_text()
    assert trace_id[:12] in page.locator("#flagged").inner_text()


def test_signals_page(page: Any, server: Server) -> None:
    page.goto(server.url + "/signals")
    wait_ready(page)
    assert page.locator("h1").inner_text() == "Signals & traces"
    if _exists(server, "GET", "/v1/signals"):
        assert page.locator("#signals-list tbody tr").count() >= 1
    else:
        assert page.locator("#signals-list [data-unavailable]").is_visible()
    shoot(page, "signals")


#: A month long past, so that the test does not depend on today's date.
MONTH = "2024-03"


def _sell_to_northwind(server: Server) -> None:
    """A plan (a price per booked meeting and a monthly fee) that Northwind bought in
    March 2024, and two meetings it booked then."""
    plan = {
        "key": "sdr-pro",
        "name": "AI SDR Pro",
        "currency": "USD",
        "outcomes": [{"event_name": "meeting_booked", "price": "25"}],
        "fees": [{"key": "platform", "amount": "99", "name": "Platform fee"}],
    }
    with server.client() as c:
        customer = {"external_id": "northwind", "name": "Northwind"}
        assert c.post("/v1/customers", json=customer).status_code in (200, 201)
        made = c.post("/v1/plans", json=plan)
        assert made.status_code in (201, 409), made.text
        if made.status_code == 201:
            order = {"customer": "northwind", "plan": "sdr-pro", "starts_at": "2024-03-11"}
            assert c.post("/v1/orders", json=order).status_code == 201
            signals = [
                {
                    "customer": "northwind",
                    "agent": "ai-sdr",
                    "event_name": "meeting_booked",
                    "timestamp": f"2024-03-{day}T10:00:00Z",
                }
                for day in (12, 28)
            ]
            assert c.post("/v1/signals", json={"items": signals}).status_code == 200


SELLER = {
    "legal_name": "Margin Demo GmbH",
    "address": ["Hauptstraße 1", "10115 Berlin"],
    "email": "billing@margin.test",
    "tax_id": "DE123456789",
}


def test_generate_and_finalize_an_invoice(page: Any, server: Server) -> None:
    _sell_to_northwind(server)
    page.goto(server.url + "/invoices")
    wait_ready(page)
    page.fill("#generate input[name=period]", MONTH)
    page.click("#generate button[type=submit]")
    page.wait_for_selector("#invoices-list tbody a:has-text('inv_')")
    shoot(page, "invoices")
    page.locator("#invoices-list tbody a:has-text('inv_')").first.click()
    page.wait_for_url("**/invoices/inv_*")
    wait_ready(page)
    assert page.locator("#status").inner_text() == "draft"
    invoice_id = page.url.rsplit("/", 1)[1]
    invoice = server.get(f"/v1/invoices/{invoice_id}")
    # In force from the 11th: days 11…31 of 31 of a 99.00 fee, then 2 × 25.
    assert invoice["total"] == str(Decimal("67.07") + 50)
    total = page.locator("[data-kpi=revenue] .value")
    assert total.get_attribute("data-amount") == invoice["total"]
    assert total.inner_text() == "$117.07"
    status_card = page.locator("[data-kpi=status]").inner_text()
    assert "Northwind" in status_card
    assert invoice["customer_id"] not in status_card
    assert "Meeting" in page.locator("text=meeting").first.inner_text().title()
    shoot(page, "invoice")
    shoot(page, "invoice-phone", phone=True)
    # Finalizing is irreversible: it asks first, in the page; cancelling changes nothing.
    page.click("#actions button:has-text('Finalize')")
    dialog = page.locator("#confirm-dialog")
    assert "can never change again" in dialog.inner_text()
    dialog.locator("button:has-text('Cancel')").click()
    assert page.locator("#confirm-dialog").count() == 0
    assert server.get(f"/v1/invoices/{invoice_id}")["status"] == "draft"
    page.click("#actions button:has-text('Finalize')")
    page.locator("#confirm-dialog button[type=submit]").click()
    page.wait_for_selector("#status:has-text('finalized')")
    final = server.get(f"/v1/invoices/{invoice_id}")
    assert final["status"] == "finalized"
    assert page.locator("#actions button:has-text('Finalize')").count() == 0
    # The printable page opens with the session cookie, like every /v1 read: formatted
    # amounts, the issue and due dates, the seller (as set on Manage → Organization).
    with server.client() as c:
        assert c.patch("/v1/organization", json={"seller": SELLER}).status_code == 200
    printable = page.context.new_page()
    printable.goto(f"{server.url}/v1/invoices/{invoice_id}.html")
    content = printable.content()
    for detail in ("Margin Demo GmbH", "Hauptstraße 1", "10115 Berlin", "DE123456789"):
        assert detail in content
    assert final["number"] in content
    assert "117.07 USD" in content
    assert f"<dt>Issued</dt><dd>{final['issued_at'][:10]}</dd>" in content
    assert f"<dt>Due</dt><dd>{final['due_at'][:10]}</dd>" in content
    assert "Northwind" in content
    # Styled: its policy allows its own <style> (the server's default forbids them).
    amount = printable.locator("td.n").first
    assert amount.evaluate("(td) => getComputedStyle(td).textAlign") == "right"
    shoot(printable, "invoice-printable")
    printable.close()
    # The PDF download holds the same invoice.
    with page.expect_download() as download:
        page.click("#pdf")
    pdf = PdfReader(download.value.path())
    text = "\n".join(p.extract_text() for p in pdf.pages)
    assert f"Invoice {final['number']}" in text
    assert "Total 117.07 USD" in text
    assert download.value.suggested_filename == f"{final['number']}.pdf"
    # Void asks for a reason in a form field of an in-page dialog (no prompt()): without
    # one the dialog stays open; with one the invoice is void (and stays listed).
    page.click("#actions button:has-text('Void')")
    void_dialog = page.locator("#confirm-dialog")
    reason = void_dialog.locator("textarea[name=reason]")
    reason.fill("issued in error")
    shoot(page, "invoice-void")
    reason.fill("")
    void_dialog.locator("button[type=submit]").click()
    assert void_dialog.is_visible()
    assert server.get(f"/v1/invoices/{invoice_id}")["status"] == "finalized"
    reason.fill("issued in error")
    void_dialog.locator("button[type=submit]").click()
    page.wait_for_selector("#status:has-text('void')")
    voided = server.get(f"/v1/invoices/{invoice_id}")
    assert voided["status"] == "void"
    assert voided["void_reason"] == "issued in error"


def test_set_a_price_override_and_see_the_quote_change(page: Any, server: Server) -> None:
    page.goto(server.url + "/prices")
    wait_ready(page)
    if not _exists(server, "GET", "/v1/prices/quote"):
        assert page.locator("#quote [data-unavailable]").is_visible()
        shoot(page, "prices")
        pytest.skip("GET /v1/prices/quote is not on this server yet")
    # The catalog price, as the API quotes it for 1 M input + 1 M output tokens.
    assert page.locator("#quote-source").inner_text() == "catalog"
    before = page.locator("#quote-amount [data-amount]").get_attribute("data-amount")
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    catalog = server.get("/v1/prices/quote", provider="openai", model="gpt-4o-mini", **usage)
    assert before == catalog["amount"]
    assert "input" in page.locator("#catalog").inner_text()
    # No stray "null" under the catalog table; no placeholder that reads like a price.
    assert "null" not in page.locator("#catalog").inner_text()
    for name in ("input", "output"):
        hint = page.locator(f"#override-form input[name={name}]").get_attribute("placeholder")
        assert hint == "decimal"
    page.fill("#override-form input[name=input]", "7")
    page.fill("#override-form input[name=output]", "11")
    page.fill("#override-form input[name=note]", "negotiated with OpenAI")
    page.click("#override-form button")
    page.wait_for_selector("#quote-source:has-text('override')")
    after = page.locator("#quote-amount [data-amount]").get_attribute("data-amount")
    assert after is not None
    assert after.rstrip("0").rstrip(".") == "18"  # 1 M in at 7 + 1 M out at 11
    assert server.get("/v1/prices/quote", provider="openai", model="gpt-4o-mini", **usage) == {
        **catalog,
        "amount": after,
        "priced_by": "override",
        "price_ref": server.get("/v1/prices")["data"][0]["id"],
    }
    assert "negotiated with OpenAI" in page.locator("#overrides").inner_text()
    shoot(page, "prices")
    shoot(page, "prices-phone", phone=True)
    # Deleting the override brings the catalog price back.
    page.click("#overrides button:has-text('Delete')")
    page.locator("#confirm-dialog button[type=submit]").click()
    page.wait_for_selector("#quote-source:has-text('catalog')")
    assert page.locator("#quote-amount [data-amount]").get_attribute("data-amount") == before


def _otlp_span(
    trace_id: str, span_id: str, name: str, start_ms: int, end_ms: int, **extra: Any
) -> dict[str, Any]:
    t0 = int((datetime.now(UTC) - timedelta(hours=3)).timestamp()) * 1_000_000_000
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(t0 + start_ms * 1_000_000),
        "endTimeUnixNano": str(t0 + end_ms * 1_000_000),
        **extra,
    }


def test_a_trace_shows_its_span_tree_with_timing(page: Any, server: Server) -> None:
    trace_id, root, chat, tool = (secrets.token_hex(16), *(secrets.token_hex(8) for _ in "abc"))
    chat_attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "margin.customer.external_id": "acme",
    }
    spans = [
        _otlp_span(trace_id, root, "handle lead", 0, 2500),
        _otlp_span(trace_id, tool, "crm lookup", 1300, 1550, parentSpanId=root),
        _otlp_span(
            trace_id,
            chat,
            "chat gpt-4o",
            100,
            1300,
            parentSpanId=root,
            attributes=[
                {
                    "key": k,
                    "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v},
                }
                for k, v in chat_attrs.items()
            ],
        ),
    ]
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "ai-sdr"}}]
                },
                "scopeSpans": [{"spans": spans}],
            }
        ]
    }
    with server.client() as c:
        r = c.post("/v1/traces", json=body)
    assert r.status_code == 200, r.text
    page.goto(f"{server.url}/traces/{trace_id}")
    wait_ready(page)
    rows = page.locator("#spans .span-row")
    # Children under their parent, in start order, each with its duration.
    assert rows.evaluate_all("(rs) => rs.map((r) => [r.dataset.span, r.dataset.depth])") == [
        [root, "0"],
        [chat, "1"],
        [tool, "1"],
    ]
    durations = rows.locator(".span-dur").all_inner_texts()
    assert durations == ["2.5 s", "1.2 s", "250 ms"]
    assert "Trace duration 2.5 s" in page.locator("#spans").inner_text()
    # The AI call priced for the chat span is named on it.
    cost = server.get(f"/v1/traces/{trace_id}")["costs"][0]
    assert cost["span_id"] == chat
    assert "gpt-4o" in page.locator(f"#spans [data-span='{chat}'] .badge").inner_text()
    shoot(page, "trace-spans")
    assert_fits(page, PHONE["width"])


def test_model_snapshots_are_grouped_under_the_catalog_model(page: Any, server: Server) -> None:
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    cost = {
        "customer": "acme",
        "agent": "ai-sdr",
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "amount": "0.5",
        "currency": "USD",
        "timestamp": at,
    }
    with server.client() as c:
        assert c.post("/v1/costs", json=cost).status_code in (200, 201)
    page.goto(server.url + "/")
    wait_ready(page)
    lo = page.locator("#totals").get_attribute("data-from")
    hi = page.locator("#totals").get_attribute("data-to")
    report = server.get("/v1/reports/overview", **{"from": lo, "to": hi, "tz": "UTC"})
    [gpt4o] = [g for g in report["cost_by_catalog_model"] if g["model"] == "gpt-4o"]
    names = {s["model"] for s in gpt4o["snapshots"]}
    assert {"gpt-4o", "gpt-4o-2024-08-06"} <= names
    group = page.locator("#cost-by-model details[data-model='gpt-4o']")
    # One row for the model, whose cost is the API's; the snapshots are inside it.
    assert page.locator("#cost-by-model tbody tr").count() == len(report["cost_by_catalog_model"])
    row = page.locator("#cost-by-model tbody tr", has=page.locator("details[data-model='gpt-4o']"))
    cost_cell = row.locator("td").nth(1).locator("[data-amount]")
    assert cost_cell.get_attribute("data-amount") == gpt4o["cost"]
    assert not page.locator("[data-snapshot='gpt-4o-2024-08-06']").is_visible()
    group.locator("summary").click()
    snapshot = page.locator("[data-snapshot='gpt-4o-2024-08-06']")
    assert snapshot.is_visible()
    [snap] = [s for s in gpt4o["snapshots"] if s["model"] == "gpt-4o-2024-08-06"]
    assert snapshot.locator("[data-amount]").get_attribute("data-amount") == snap["cost"]
