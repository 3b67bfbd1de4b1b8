"""The control page and a customer's credits and entitlements, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from dashboard_support import Server, wait_ready

pytestmark = pytest.mark.browser


def test_control_page_and_customer_credits(page: Any, server: Server) -> None:
    with server.client() as c:
        rule = {"name": "AI cost over 500", "metric": "ai_cost", "thresholds": ["500"]}
        assert c.post("/v1/alerts/rules", json=rule).status_code == 201
        hook = {"url": "http://127.0.0.1:9/margin-hook", "event_types": ["alert.triggered"]}
        assert c.post("/v1/webhooks/endpoints", json=hook).status_code == 201
        customer = c.get("/v1/customers", params={"limit": 1}).json()["data"][0]
        grant = {"currency": "meetings", "amount": "100"}
        assert (
            c.post(f"/v1/customers/{customer['id']}/credits/grants", json=grant).status_code == 201
        )
        feature = {"key": "sso-seats", "backed_by": "none"}
        assert c.post("/v1/features", json=feature).status_code == 201
        given = {"feature": "sso-seats", "kind": "static", "config": {"seats": 3}}
        url = f"/v1/customers/{customer['id']}/entitlements"
        assert c.put(url, json=given).status_code == 200
        # A unit with an entitlement and credits of its own, and one with neither.
        units = f"/v1/customers/{customer['id']}/units"
        for unit in ({"external_id": "team-a", "name": "Team A"}, {"external_id": "team-b"}):
            assert c.post(units, json=unit).status_code == 201
        own = {"feature": "sso-seats", "kind": "static", "config": {"seats": 1}}
        assert c.put(url, params={"unit": "team-a"}, json=own).status_code == 200
        grants = f"/v1/customers/{customer['id']}/credits/grants"
        unit_grant = {"currency": "meetings", "amount": "7"}
        assert c.post(grants, params={"unit": "team-a"}, json=unit_grant).status_code == 201
    page.goto(server.url + "/control")
    wait_ready(page)
    assert "AI cost over 500" in page.locator("#alert-rules").inner_text()
    assert "margin-hook" in page.locator("#webhook-endpoints").inner_text()
    assert page.locator("main [role=alert]").count() == 0
    page.goto(server.url + f"/customers/{customer['id']}")
    wait_ready(page)
    text = page.locator("#customer-control").inner_text()
    assert "meetings" in text
    assert "100" in text
    row = page.locator("#customer-control tr", has_text="sso-seats").inner_text()
    assert "static" in row
    assert "customer" in row
    team_a = page.locator("#customer-units tr", has_text="team-a").inner_text()
    assert "Team A" in team_a
    assert "sso-seats (static)" in team_a
    assert "meetings 7 of 7" in team_a
    team_b = page.locator("#customer-units tr", has_text="team-b").inner_text()
    assert "the customer's" in team_b
