"""Figures without an exchange rate in a real browser (issue #14): a customer on a EUR plan
with USD AI costs, reporting currency EUR, rates for the 5th and 6th of October but none for
a cost on the 20th. The API leaves that cost out of the converted figures and answers the
profit and margin as unknown; every page showing them flags it, and none explains the
unknown profit as "needs cost and revenue". The dashboard shows the API's profit, never its
own sum."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dashboard_support import Server, signed_in, wait_ready

from billing_support import outcome, setup_plan
from margin_testing import remote_api
from reports.test_report_currency import EUR_PLAN, RATES, USD_IN_EUR

pytestmark = pytest.mark.browser

# The reports' EUR world (tests/reports/test_report_currency.py): 3 USD on the 5th and 1 USD
# on the 6th are 3.560651514 EUR; here 2 USD more on the 20th have no rate.
OCTOBER = "range=custom&from=2026-10-01&to=2026-10-31&tz=UTC"
FLAG = "2 USD of cost has no exchange rate for its date"
WRONG_REASON = "needs cost and revenue"


@pytest.fixture(scope="module")
def world(fresh_server: Server) -> Server:
    """The fresh server's organization reporting in EUR, with acme's October."""
    api = remote_api(fresh_server.url, fresh_server.keys)
    try:
        setup_plan(api, plan=EUR_PLAN)
        outcome(api, "meeting_booked", "2026-10-05T10:00:00Z", cost="3")
        outcome(api, "meeting_booked", "2026-10-06T23:59:59Z", cost="1")
        outcome(api, "meeting_booked", "2026-10-20T08:00:00Z", cost="2")
        changed = api.patch("/v1/organization", json={"reporting_currency": "EUR"})
        assert changed.status_code == 200, changed.text
        for day, rate in RATES.items():
            put = api.put(f"/v1/exchange-rates/EUR/USD/{day}", json={"rate": rate})
            assert put.status_code == 201, put.text
    finally:
        api.client.close()
    return fresh_server


@pytest.fixture
def eur_page(browser: Any, world: Server) -> Iterator[Any]:
    """A desktop page signed in to the EUR organization; fails on any script error."""
    with signed_in(browser, world) as pg:
        yield pg


def _assert_figures_flagged(page: Any) -> None:
    """The KPI cards: the converted cost with its ⚠, profit and margin unknown for want of a
    rate (not for want of cost or revenue)."""
    cost = page.locator("[data-kpi=cost] .value")
    assert cost.get_attribute("data-amount") == USD_IN_EUR
    assert FLAG in (page.locator("[data-kpi=cost] .fx-flag").get_attribute("title") or "")
    assert page.locator("[data-kpi=revenue] .value").get_attribute("data-amount") == "60"
    assert page.locator("[data-kpi=revenue] .fx-flag").count() == 0
    profit = page.locator("[data-kpi=profit] .value")
    assert profit.get_attribute("data-amount") == ""
    assert FLAG in (profit.get_attribute("title") or "")
    assert page.locator("[data-kpi=profit] .delta").inner_text() == "no exchange rate"
    assert page.locator("[data-kpi=margin] .delta").inner_text() == "no exchange rate"
    warning = page.locator("[data-warning=unconverted]").inner_text()
    assert "2 USD of cost has no exchange rate into EUR (USD on 2026-10-20)" in warning
    assert "margin fx set" in warning
    assert WRONG_REASON not in page.locator("main").inner_text()


def test_the_overview_flags_a_cost_without_a_rate(eur_page: Any, world: Server) -> None:
    page = eur_page
    page.goto(f"{world.url}/?{OCTOBER}")
    wait_ready(page)
    [total] = world.get(
        "/v1/reports/overview", **{"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
    )["totals"]
    assert total["unconverted"] == [{"currency": "USD", "cost": "2", "revenue": None}]
    _assert_figures_flagged(page)
    # The top customers: acme's cost flagged, its profit and margin unknown for that reason.
    acme = page.locator("section.card", has_text="Top customers by profit").locator(
        "tr", has_text="acme"
    )
    flags = acme.locator(".fx-flag")
    assert [flags.nth(i).get_attribute("data-unconverted") for i in range(flags.count())] == [
        "cost",
        "profit",
        "margin",
    ]
    # The provider's cost too, and the chart says which day its line leaves out.
    provider = page.locator("section.card", has_text="Cost by provider").locator(
        "tr", has_text="openai"
    )
    assert provider.locator(".fx-flag").count() == 1
    # By source (the AI cost left it out, nothing else did) and by model.
    assert page.locator("#cost-by-source tr", has_text="AI").locator(".fx-flag").count() == 1
    assert page.locator("#cost-by-source .fx-flag").count() == 1
    assert page.locator("#cost-by-model .fx-flag").count() >= 1
    assert "2026-10-20" in page.locator("[data-warning=unconverted-days]").inner_text()


def test_the_customer_pages_flag_a_cost_without_a_rate(eur_page: Any, world: Server) -> None:
    page = eur_page
    page.goto(f"{world.url}/customers?{OCTOBER}")
    wait_ready(page)
    row = page.locator("#customers-table tr", has_text="acme")
    assert FLAG in (row.locator("[data-unconverted=cost]").get_attribute("title") or "")
    assert row.locator("[data-unconverted=profit]").count() == 1
    assert (
        "acme: 2 USD of cost has no exchange rate into EUR"
        in page.locator("[data-warning=unconverted]").inner_text()
    )
    acme = next(c for c in world.get("/v1/customers")["data"] if c["external_id"] == "acme")
    page.goto(f"{world.url}/customers/{acme['id']}?{OCTOBER}")
    wait_ready(page)
    _assert_figures_flagged(page)
    # Per outcome, as the cost-per-outcome report answers: the cost's share is unknown (part
    # of it has no rate), the revenue's is 20 EUR.
    meetings = page.locator("#by-signal tr", has_text="meeting_booked")
    per = meetings.locator("[data-unconverted=cost_per_outcome]")
    assert FLAG in (per.get_attribute("title") or "")
    assert meetings.locator("td").nth(3).inner_text().startswith("—")
    assert "€20.00" in meetings.inner_text()


def test_the_dashboard_shows_the_servers_profit_and_computes_none(
    eur_page: Any, world: Server
) -> None:
    page = eur_page
    page.goto(f"{world.url}/?{OCTOBER}")
    wait_ready(page)
    # A row the API sent without profit or margin keeps them unknown: the page never works
    # out revenue - cost itself (the module is the one the page runs).
    row = page.evaluate(
        """async () => (await import('/dashboard/static/lib/reports.js'))
            .flatRow({ currency: 'EUR', cost: '4', revenue: '10' })"""
    )
    assert (row["profit"], row["margin"]) == (None, None)
    kept = page.evaluate(
        """async () => (await import('/dashboard/static/lib/reports.js'))
            .flatRow({ currency: 'EUR', cost: '4', revenue: '10', profit: '6', margin_pct: '60' })"""
    )
    assert (kept["profit"], kept["margin"]) == ("6", "60")
