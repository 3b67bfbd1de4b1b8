"""A first-day install: ``margin serve`` on an empty store, one cost recorded, the browser's
clock fixed on that day. The daily chart shows that day (not years), and nothing is
clipped at phone width."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dashboard_support import (
    DESKTOP,
    PHONE,
    SLOW_MS,
    Server,
    assert_fits,
    shoot,
    sign_in,
    wait_ready,
)

pytestmark = pytest.mark.browser

#: "Now" in the browser: the dashboard's periods are computed from it.
TODAY = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def test_the_overview_of_a_first_day_with_one_data_point(
    browser: Any, fresh_server: Server
) -> None:
    cost = {
        "customer": "first-customer",
        "agent": "first-agent",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "amount": "0.0123",
        "currency": "USD",
        "timestamp": "2026-03-15T09:30:00Z",
    }
    with fresh_server.client("ingest") as c:
        assert c.post("/v1/costs", json=cost).status_code in (200, 201)
    context = browser.new_context(viewport=DESKTOP, timezone_id="UTC", locale="en-US")
    context.set_default_timeout(SLOW_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.clock.set_fixed_time(TODAY)
    sign_in(page, fresh_server, fresh_server.keys["admin"])
    wait_ready(page)
    assert page.locator("#totals").get_attribute("data-from") == "2026-02-14T00:00:00Z"
    cost_kpi = page.locator("[data-kpi=cost] .value")
    assert cost_kpi.get_attribute("data-amount") == "0.0123"
    assert cost_kpi.inner_text() == "$0.01"
    # Revenue is not tracked yet (no order): "—" with a tooltip, never a zero.
    revenue = page.locator("[data-kpi=revenue] .value")
    assert revenue.inner_text() == "—"
    assert (revenue.get_attribute("title") or "").startswith("Not tracked")
    # One point: the x axis spans that day (half a day either side), not months or years.
    chart = page.locator("#chart")
    page.wait_for_selector("#chart[data-x-from]")
    assert chart.get_attribute("data-points") == "1"
    assert (chart.get_attribute("data-x-from"), chart.get_attribute("data-x-to")) == (
        "2026-03-14T12:00:00.000Z",
        "2026-03-15T12:00:00.000Z",
    )
    assert chart.get_attribute("data-scales") == "cost"
    shoot(page, "first-day")
    assert_fits(page, PHONE["width"])
    shoot(page, "first-day-phone", phone=True)
    # The pages a new user opens next fit a phone too.
    for path in ("/customers", "/plans", "/keys"):
        page.goto(fresh_server.url + path)
        wait_ready(page)
        assert_fits(page, PHONE["width"])
    context.close()
    assert not errors, errors
