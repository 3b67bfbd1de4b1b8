"""The management pages in a real browser against ``margin serve --demo``: customers and
agents (with their tracking mode), plans, orders, meters and API keys, created and changed
through the /v1 API; irreversible actions confirmed in an in-page dialog."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dashboard_support import DESKTOP, PHONE, Server, assert_fits, shoot, wait_ready

pytestmark = pytest.mark.browser


def test_add_a_customer_and_change_its_tracking_mode(page: Any, server: Server) -> None:
    page.goto(server.url + "/customers")
    wait_ready(page)
    page.click("#add-customer summary")
    form = page.locator("#new-customer")
    # Bad input: the API's problem names the field, the form marks it, nothing is made.
    form.locator("input[name=external_id]").fill("wayne")
    form.locator("input[name=currency]").fill("usd")
    form.locator("button[type=submit]").click()
    error = page.locator("#add-customer [role=alert]")
    error.wait_for()
    assert error.get_attribute("data-field") == "currency"
    assert form.locator("input[name=currency]").get_attribute("aria-invalid") == "true"
    with server.client() as c:
        assert c.get("/v1/customers/external/wayne").status_code == 404
    form.locator("input[name=currency]").fill("USD")
    form.locator("input[name=name]").fill("Wayne Enterprises")
    form.locator("select[name=tracking_mode]").select_option("cost_only")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/customers/cus_*")
    wait_ready(page)
    assert page.locator("h1").inner_text() == "Wayne Enterprises"
    assert page.locator("#tracking-mode").inner_text() == "cost only"
    made = server.get("/v1/customers/external/wayne")
    assert (made["name"], made["currency"], made["tracking_mode"]) == (
        "Wayne Enterprises",
        "USD",
        "cost_only",
    )
    page.click("#edit summary")
    page.select_option("#edit-customer select[name=tracking_mode]", "full")
    page.fill("#edit-customer input[name=email]", "ap@wayne.test")
    page.click("#edit-customer button[type=submit]")
    page.wait_for_selector("#tracking-mode:has-text('full')")
    changed = server.get("/v1/customers/external/wayne")
    assert (changed["tracking_mode"], changed["email"]) == ("full", "ap@wayne.test")
    # The list shows every customer's tracking mode.
    page.goto(server.url + "/customers")
    wait_ready(page)
    row = page.locator("#customers-table tr", has=page.locator("a:has-text('Wayne Enterprises')"))
    assert "full" in row.inner_text()


def test_open_forms_keep_to_a_phones_width(page: Any, server: Server) -> None:
    """At phone width an open form stays on the screen: the tracking mode's long options
    and the plan's 60-column usage field pushed the page 36 and 99 px sideways."""
    [acme] = [c for c in server.get("/v1/customers")["data"] if c["external_id"] == "acme"]
    page.set_viewport_size(PHONE)
    for path, opener in (
        ("/customers", "#add-customer summary"),
        ("/agents", "#add-agent summary"),
        (f"/customers/{acme['id']}", "#edit summary"),
        ("/plans", "#new-plan details summary"),
    ):
        page.goto(server.url + path)
        wait_ready(page)
        page.click(opener)
        assert_fits(page, PHONE["width"])
        fields = page.eval_on_selector_all(
            "main form select, main form textarea, main form input",
            "(els) => els.map((e) => e.getBoundingClientRect().right)",
        )
        assert fields
        assert max(fields) <= PHONE["width"], path
    page.set_viewport_size(DESKTOP)


def test_add_an_agent(page: Any, server: Server) -> None:
    page.goto(server.url + "/agents")
    wait_ready(page)
    page.click("#add-agent summary")
    page.fill("#new-agent input[name=external_id]", "support-bot")
    page.fill("#new-agent input[name=name]", "Support bot")
    page.fill("#new-agent input[name=description]", "answers tickets")
    page.click("#new-agent button[type=submit]")
    page.wait_for_url("**/agents/agt_*")
    wait_ready(page)
    assert page.locator("h1").inner_text() == "Support bot"
    agent = server.get("/v1/agents/external/support-bot")
    assert (agent["description"], agent["tracking_mode"]) == ("answers tickets", "auto")


def test_meters_plans_and_orders(page: Any, server: Server) -> None:
    page.goto(server.url + "/meters")
    wait_ready(page)
    form = page.locator("#meter-form")
    form.locator("input[name=key]").fill("api-calls")
    form.locator("input[name=event_type]").fill("api_call")
    form.locator("select[name=aggregation]").select_option("count")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#meters-list code:has-text('api-calls')")
    # Edit: the definition is replaced (PUT) under the same key.
    row = page.locator("#meters-list tr", has=page.locator("code:has-text('api-calls')"))
    row.locator("button:has-text('Edit')").click()
    assert form.locator("input[name=key]").is_disabled()
    form.locator("input[name=name]").fill("API calls")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#meters-list td:has-text('API calls')")
    assert server.get("/v1/meters/api-calls")["name"] == "API calls"
    shoot(page, "meters")

    page.goto(server.url + "/plans")
    wait_ready(page)
    plan = page.locator("#new-plan")
    plan.locator("input[name=key]").fill("starter")
    plan.locator("input[name=name]").fill("Starter")
    outcome = plan.locator("[data-row=outcome]").first
    outcome.locator("[data-key=event_name]").fill("meeting_booked")
    outcome.locator("[data-key=price]").fill("twelve")
    plan.locator("button:has-text('Add fee')").click()
    fee = plan.locator("[data-row=fee]").first
    fee.locator("[data-key=key]").fill("platform")
    fee.locator("[data-key=amount]").fill("49")
    plan.locator("button[type=submit]").click()
    refused = page.locator("#new-plan + [role=status] [role=alert]")
    refused.wait_for()
    assert "price" in refused.inner_text()
    with server.client() as c:
        assert c.get("/v1/plans/starter").status_code == 404
    outcome.locator("[data-key=price]").fill("12.5")
    plan.locator("button[type=submit]").click()
    page.wait_for_selector("#plans-list code:has-text('starter')")
    made = server.get("/v1/plans/starter")
    assert [(o["event_name"], o["price"]) for o in made["outcomes"]] == [("meeting_booked", "12.5")]
    assert [(f["key"], f["amount"], f["interval"]) for f in made["fees"]] == [
        ("platform", "49", "monthly")
    ]
    starter = page.locator("#plans-list tr", has=page.locator("code:has-text('starter')"))
    assert "$12.50 each" in starter.inner_text()
    shoot(page, "plans")

    page.goto(server.url + "/orders")
    wait_ready(page)
    page.select_option("#new-order select[name=customer]", "globex")
    page.select_option("#new-order select[name=plan]", "starter")
    page.fill("#new-order input[name=starts_at]", "2025-01-01")
    page.click("#new-order button[type=submit]")
    row = page.locator("#orders-list tr", has=page.locator("code:has-text('starter')"))
    row.wait_for()
    assert "open-ended" in row.inner_text()
    [order] = [o for o in server.get("/v1/orders")["data"] if o["plan"] == "starter"]
    row.locator("input[type=date]").fill("2025-06-01")
    row.locator("button:has-text('End')").click()
    page.wait_for_selector("#order-status:has-text('Order ends 2025-06-01')")
    assert server.get(f"/v1/orders/{order['id']}")["ends_at"] == "2025-06-01T00:00:00Z"
    shoot(page, "orders")
    assert_fits(page, PHONE["width"])

    # Deleting a meter is irreversible: an in-page dialog asks first.
    page.goto(server.url + "/meters")
    wait_ready(page)
    row = page.locator("#meters-list tr", has=page.locator("code:has-text('api-calls')"))
    row.locator("button:has-text('Delete')").click()
    page.locator("#confirm-dialog button:has-text('Cancel')").click()
    assert server.get("/v1/meters/api-calls")["key"] == "api-calls"
    row.locator("button:has-text('Delete')").click()
    page.locator("#confirm-dialog button[type=submit]").click()
    page.wait_for_selector("#meter-status:has-text('deleted')")
    with server.client() as c:
        assert c.get("/v1/meters/api-calls").status_code == 404


def test_create_and_revoke_an_api_key(page: Any, server: Server) -> None:
    page.goto(server.url + "/keys")
    wait_ready(page)
    assert page.locator("#keys-list .badge:has-text('this session')").count() == 1
    page.select_option("#new-key select[name=scope]", "read")
    page.fill("#new-key input[name=name]", "BI export")
    page.click("#new-key button[type=submit]")
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("mgn_read_")
    shoot(page, "keys")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {secret}"}) as c:
        assert c.get("/v1/customers").status_code == 200
        row = page.locator("#keys-list tr", has=page.locator("text=BI export"))
        row.locator("button:has-text('Revoke')").click()
        dialog = page.locator("#confirm-dialog")
        assert "cannot be restored" in dialog.inner_text()
        dialog.locator("button:has-text('Cancel')").click()
        assert c.get("/v1/customers").status_code == 200
        row.locator("button:has-text('Revoke')").click()
        page.locator("#confirm-dialog button[type=submit]").click()
        page.wait_for_selector("#key-status:has-text('revoked')")
        assert c.get("/v1/customers").status_code == 401
    row = page.locator("#keys-list tr", has=page.locator("text=BI export"))
    assert "revoked" in row.inner_text()
    assert row.locator("button:has-text('Revoke')").count() == 0


def test_set_the_seller_printed_on_invoices(page: Any, server: Server) -> None:
    """Until the seller's legal name is set the invoices page warns that invoices name the
    organization's display name alone; Manage → Organization sets the seller's details
    through PATCH /v1/organization, and refuses bad input field by field."""
    with server.client() as c:  # the invoice test may have set them already
        assert c.patch("/v1/organization", json={"seller": None}).status_code == 200
    org = server.get("/v1/organization")
    page.goto(server.url + "/invoices")
    wait_ready(page)
    note = page.locator("[data-warning=seller]")
    assert f"Invoices name the seller “{org['display_name']}”" in note.inner_text()
    note.locator("a").click()
    page.wait_for_url("**/organization")
    wait_ready(page)
    form = page.locator("#organization-form")
    assert form.locator("input[name=display_name]").input_value() == org["display_name"]
    # Bad input: the API's problem names the field, the form marks it, nothing changes.
    form.locator("input[name=reporting_currency]").fill("EURO")
    form.locator("input[name='seller.legal_name']").fill("Margin Demo GmbH")
    page.evaluate("document.querySelector('#organization-form').noValidate = true")
    form.locator("button[type=submit]").click()
    error = page.locator("#organization-status [role=alert]")
    error.wait_for()
    assert error.get_attribute("data-field") == "reporting_currency"
    invalid = form.locator("input[name=reporting_currency]").get_attribute("aria-invalid")
    assert invalid == "true"
    assert server.get("/v1/organization") == org
    form.locator("input[name=reporting_currency]").fill(org["reporting_currency"])
    form.locator("input[name='seller.tax_id']").fill("DE123456789")
    form.locator("input[name='seller.email']").fill("billing@margin.test")
    form.locator("textarea[name='seller.address']").fill("Hauptstraße 1\n\n  10115 Berlin ")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#organization-status .badge.ok")
    assert server.get("/v1/organization")["seller"] == {
        "legal_name": "Margin Demo GmbH",
        "address": ["Hauptstraße 1", "10115 Berlin"],
        "email": "billing@margin.test",
        "tax_id": "DE123456789",
    }
    shoot(page, "organization")
    assert_fits(page, PHONE["width"])
    page.set_viewport_size(DESKTOP)
    page.goto(server.url + "/invoices")
    wait_ready(page)
    assert page.locator("[data-warning=seller]").count() == 0
