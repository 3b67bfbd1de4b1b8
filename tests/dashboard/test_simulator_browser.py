"""The pricing simulator page in a real browser against a real ``margin serve --demo``: a
changed price re-rates last month, and the page shows the API's figures."""

from __future__ import annotations

from typing import Any

import pytest
from dashboard_support import Server, shoot, wait_ready

from margin.demo import PLAN

pytestmark = pytest.mark.browser


def test_simulate_a_price_change_on_the_demo_plan(page: Any, server: Server) -> None:
    page.goto(server.url + "/simulate")
    wait_ready(page)
    assert page.locator("nav a[aria-current=page]").inner_text() == "Simulator"
    month = page.input_value("#sim-form input[name=from]")
    # Other tests on this server may add plans; the page selects the demo's.
    plan = next(p for p in server.get("/v1/plans")["data"] if p["key"] == PLAN["key"])
    page.select_option("#sim-form select[name=plan]", plan["key"])
    assert page.locator("#sim-form select[name=plan]").input_value() == plan["key"]
    meeting = next(i for i, o in enumerate(plan["outcomes"]) if o["event_name"] == "meeting_booked")
    page.fill(f"#sim-prices input[name='outcome.{meeting}']", "45")
    page.click("#sim-form button[type=submit]")
    page.wait_for_selector("#sim-customers")
    # The same candidate through the API: the page shows its figures.
    outcomes = [dict(o) for o in plan["outcomes"]]
    outcomes[meeting]["price"] = "45"
    body = {
        "plan": {
            "key": plan["key"],
            "agent": plan["agent_id"],
            "currency": plan["currency"],
            "outcomes": outcomes,
            "fees": plan["fees"],
            "usage": plan["usage"],
            "minimum": plan["minimum"],
        },
        "from": month,
    }
    with server.client("read") as client:
        answer = client.post("/v1/plans/simulate", json=body)
    assert answer.status_code == 200, answer.text
    [total] = answer.json()["totals"]
    kpis = page.locator(".kpis .kpi .value")
    assert kpis.nth(0).get_attribute("data-amount") == total["actual"]["revenue"]
    assert kpis.nth(1).get_attribute("data-amount") == total["candidate"]["revenue"]
    assert kpis.nth(2).get_attribute("data-amount") == total["candidate"]["profit"]
    table = page.locator("#sim-customers").inner_text()
    for row in answer.json()["customers"]:
        assert row["label"] in table
    assert "(edited) in place of sdr-standard" in page.locator("#sim-what").inner_text()
    shoot(page, "simulator")
    shoot(page, "simulator-phone", phone=True)
