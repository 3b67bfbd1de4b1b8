"""Reports in the reporting currency (issue #14.7): a customer on a EUR plan whose AI costs
are billed in USD gets one row with the right converted margin, each figure converted at
the rate of its date; a figure without a rate is flagged, never dropped or mixed; invoices
stay in the customer's currency; ``by_currency`` shows the original currencies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from billing_support import generate, outcome, setup_plan

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api

OCT = {"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
EUR_PLAN = {
    "key": "eu",
    "currency": "EUR",
    "outcomes": [{"event_name": "meeting_booked", "price": "20"}],
    "fees": [],
}
# 1 EUR = 1.0867 USD on the 5th, 1.25 USD on the 6th (which also serves the 7th to the 13th).
RATES = {"2026-10-05": "1.0867", "2026-10-06": "1.25"}
# 3 USD on the 5th: 3 × 0.92021717125241557007 (1 / 1.0867, 20 digits) = 2.760651514 EUR;
# 1 USD on the 6th: 0.8 EUR.
USD_IN_EUR = "3.560651514"


def _get(api: Api, path: str, **params: Any) -> Any:
    answer = api.get(path, params={**OCT, **params}, scope="read")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _world(api: Api, reporting: str = "EUR") -> None:
    setup_plan(api, plan=EUR_PLAN)
    outcome(api, "meeting_booked", "2026-10-05T10:00:00Z", cost="3")
    outcome(api, "meeting_booked", "2026-10-06T23:59:59Z", cost="1")
    changed = api.patch("/v1/organization", json={"reporting_currency": reporting})
    assert changed.status_code == 200, changed.text
    for day, rate in RATES.items():
        put = api.put(f"/v1/exchange-rates/EUR/USD/{day}", json={"rate": rate})
        assert put.status_code == 201, put.text


def test_a_eur_plan_with_usd_costs_is_one_row_with_the_converted_margin(api: Api) -> None:
    _world(api)
    report = _get(api, "/v1/reports/margin", group_by="customer")
    [row] = report["rows"]
    assert row["currency"] == "EUR"
    assert (row["revenue"], row["cost"]) == ("40", USD_IN_EUR)
    assert (row["profit"], row["margin_pct"]) == ("36.439348486", "91.1")
    assert row["cost_by_source"] == {"ai": USD_IN_EUR, "manual": "0", "meter": "0"}
    assert "unconverted" not in row
    assert report["totals"] == [
        {
            "currency": "EUR",
            "cost": USD_IN_EUR,
            "revenue": "40",
            "profit": "36.439348486",
            "margin_pct": "91.1",
        }
    ]
    assert report["currency"] == "EUR"
    assert [(r["currency"], r["date"], r["rate"], r["method"]) for r in report["rates"]] == [
        ("USD", "2026-10-05", "0.92021717125241557007", "inverse"),
        ("USD", "2026-10-06", "0.8", "inverse"),
    ]
    # Per day: each day's figures at that day's rate.
    days = _get(api, "/v1/reports/margin", window="day")["rows"]
    assert [(d["window_start"][:10], d["cost"], d["revenue"]) for d in days] == [
        ("2026-10-05", "2.760651514", "20"),
        ("2026-10-06", "0.8", "20"),
    ]
    # The overview, the summary and unit economics show the same converted figures.
    [total] = _get(api, "/v1/reports/overview")["totals"]
    assert (total["currency"], total["revenue"], total["cost"]) == ("EUR", "40", USD_IN_EUR)
    assert total["profit"] == "36.439348486"
    summary = _get(api, "/v1/reports/summary")
    assert [(r["currency"], r["cost"], r["revenue"]) for r in summary["rows"]] == [
        ("EUR", USD_IN_EUR, "40")
    ]
    assert summary["totals"] == [{"currency": "EUR", "cost": USD_IN_EUR}]
    [unit] = _get(api, "/v1/reports/unit-economics")["rows"]
    assert (unit["profit"], unit["profit_per_outcome"]) == ("36.439348486", "18.219674243")
    # Cost per outcome too: 3.560651514 EUR over 2 meetings, each earning 20 EUR.
    per = _get(api, "/v1/reports/cost-per-outcome", event_name="meeting_booked")
    assert per["currency"] == "EUR"
    assert [
        (r["currency"], r["outcomes"], r["cost"], r["cost_per_outcome"], r["revenue_per_outcome"])
        for r in per["rows"]
    ] == [("EUR", 2, USD_IN_EUR, "1.780325757", "20")]
    split_per = _get(
        api, "/v1/reports/cost-per-outcome", event_name="meeting_booked", by_currency="true"
    )
    assert {r["currency"]: r["cost_per_outcome"] for r in split_per["rows"]}["USD"] == "2"
    # Per original currency on demand: the figures as recorded, one row per currency.
    split = _get(api, "/v1/reports/margin", group_by="customer", by_currency="true")
    assert [(r["currency"], r["cost"], r["revenue"]) for r in split["rows"]] == [
        ("EUR", None, "40"),
        ("USD", "4", None),
    ] or [(r["currency"], r["cost"], r["revenue"]) for r in split["rows"]] == [
        ("EUR", "0", "40"),
        ("USD", "4", "0"),
    ]
    assert "unconverted" not in split["rows"][0]
    # Invoices stay in the customer's currency.
    [invoice] = generate(api, "2026-10")
    assert (invoice["currency"], invoice["total"]) == ("EUR", "40")


def test_a_figure_without_a_rate_is_flagged_not_dropped(api: Api) -> None:
    _world(api)
    # The 20th is 14 days after the last rate: no rate applies to its 2 USD of cost.
    outcome(api, "meeting_booked", "2026-10-20T08:00:00Z", cost="2")
    report = _get(api, "/v1/reports/margin", group_by="customer")
    [row] = report["rows"]
    assert (row["currency"], row["revenue"], row["cost"]) == ("EUR", "60", USD_IN_EUR)
    assert row["unconverted"] == [{"currency": "USD", "cost": "2", "revenue": None}]
    assert (row["profit"], row["margin_pct"]) == (None, None)
    [total] = report["totals"]
    assert total["unconverted"] == [{"currency": "USD", "cost": "2", "revenue": None}]
    csv = api.get(
        "/v1/reports/margin",
        params={**OCT, "group_by": "customer", "format": "csv"},
        scope="read",
    ).text.splitlines()
    assert csv[0].endswith(",cost_meter,unconverted")
    assert csv[1].endswith(",EUR,3.560651514,60,,,3,3,0,3.560651514,0,0,2 USD cost")
    assert report["rates"][-1] == {
        "currency": "USD",
        "date": "2026-10-20",
        "rate": None,
        "rate_date": None,
        "method": None,
        "via": None,
    }
    overview = _get(api, "/v1/reports/overview")
    [total] = overview["totals"]
    assert total["unconverted"] == [{"currency": "USD", "cost": "2", "revenue": None}]
    assert total["profit"] is None
    # The cost by model is flagged too, on the model and on the name it was reported as.
    [model] = overview["cost_by_catalog_model"]
    assert (model["cost"], model["unconverted"]) == (USD_IN_EUR, total["unconverted"])
    [name] = model["snapshots"]
    assert name["unconverted"] == total["unconverted"]
    [provider] = overview["cost_by_provider"]
    assert provider["unconverted"] == total["unconverted"]
    # And by source: the 2 USD are AI cost; the other sources have nothing left out.
    sources = {s["source"]: s for s in overview["cost_by_source"]}
    assert sources["ai"]["unconverted"] == [{"currency": "USD", "cost": "2"}]
    assert sources["ai"]["cost"] == USD_IN_EUR
    assert "unconverted" not in sources["manual"]
    assert "unconverted" not in sources["meter"]
    [per] = _get(api, "/v1/reports/cost-per-outcome", event_name="meeting_booked")["rows"]
    assert (per["outcomes"], per["cost"]) == (3, USD_IN_EUR)
    assert per["unconverted"] == [{"currency": "USD", "cost": "2", "revenue": None}]
    # Part of the cost has no rate: its share per outcome is unknown, not understated.
    assert (per["cost_per_outcome"], per["revenue_per_outcome"]) == (None, "20")
    [unit] = _get(api, "/v1/reports/unit-economics")["rows"]
    assert (unit["cost_per_outcome"], unit["profit_per_outcome"]) == (None, None)
    assert unit["revenue_per_outcome"] == "20"
    summary = _get(api, "/v1/reports/summary")
    assert summary["totals"] == [
        {
            "currency": "EUR",
            "cost": USD_IN_EUR,
            "unconverted": [{"currency": "USD", "cost": "2"}],
        }
    ]
    # A rate for the 20th makes it whole: 2 USD at 1 EUR = 2 USD is 1 EUR.
    assert api.put("/v1/exchange-rates/EUR/USD/2026-10-20", json={"rate": "2"}).status_code == 201
    [row] = _get(api, "/v1/reports/margin", group_by="customer")["rows"]
    assert (row["cost"], row["profit"]) == ("4.560651514", "55.439348486")
    assert "unconverted" not in row


def test_revenue_in_eur_is_converted_to_a_usd_reporting_currency(api: Api) -> None:
    _world(api, reporting="USD")
    [row] = _get(api, "/v1/reports/margin", group_by="customer")["rows"]
    # 20 EUR × 1.0867 + 20 EUR × 1.25 = 46.734 USD; the cost is in USD already.
    assert (row["currency"], row["revenue"], row["cost"], row["profit"]) == (
        "USD",
        "46.734",
        "4",
        "42.734",
    )


def test_the_simulator_converts_a_candidate_in_another_currency(api: Api) -> None:
    _world(api)
    candidate = {
        "key": "us",
        "currency": "USD",
        "outcomes": [{"event_name": "meeting_booked", "price": "25"}],
    }
    body = {"plan": candidate, "replaces": "eu", "from": "2026-10"}
    answer = api.post("/v1/plans/simulate", json=body, scope="read")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["currency"] == "EUR"
    [row] = result["customers"]
    assert row["actual"]["revenue"] == "40"
    # 25 USD on the 5th × 0.92021717125241557007 = 23.005429281 EUR, 25 USD on the 6th × 0.8.
    assert row["candidate"]["revenue"] == "43.005429281"
    assert row["candidate"]["cost"] == row["actual"]["cost"] == USD_IN_EUR
    assert row["change"] == {"revenue": "3.005429281", "profit": "3.005429281"}
    split = api.post("/v1/plans/simulate", json=body, params={"by_currency": "true"}, scope="read")
    by_currency = {r["currency"]: r for r in split.json()["customers"]}
    assert by_currency["USD"]["candidate"]["revenue"] == "50"
    assert by_currency["EUR"]["actual"]["revenue"] == "40"


def test_a_range_of_two_centuries_converts_day_by_day_like_a_month(api: Api) -> None:
    # Converted figures are read per UTC day: over the widest range the API takes (83,000
    # days) that must neither exceed the stores' limits on one statement nor change a total.
    _world(api)
    wide = {"from": "1970-01-01T00:00:00Z", "to": "2199-12-31T00:00:00Z"}
    # 1,560 month windows starting at Indian midnights, between the 47,000 UTC midnights.
    months = {"from": "1970-01-02T00:00:00+05:30", "to": "2100-01-01T00:00:00+05:30"}
    for path, params, span in [
        ("/v1/reports/summary", {}, wide),
        ("/v1/reports/margin", {"group_by": "customer"}, wide),
        ("/v1/reports/margin", {"window": "month", "tz": "Asia/Kolkata"}, months),
        # A point a day, and the period before compared: 3,990 days converted.
        ("/v1/reports/overview", {}, {"from": "2021-06-15", "to": "2026-12-01"}),
        ("/v1/reports/unit-economics", {}, wide),
        ("/v1/reports/cost-per-outcome", {"event_name": "meeting_booked"}, wide),
    ]:
        month, centuries = _get(api, path, **params), _get(api, path, **{**params, **span})
        for key in ("rows", "totals"):
            assert centuries.get(key) == month.get(key), (path, params, key)
    too_long = api.get("/v1/reports/overview", params=wide, scope="read")
    assert (too_long.status_code, too_long.json()["field"]) == (422, "from")
    assert "more than 2000 day windows" in too_long.json()["detail"]
