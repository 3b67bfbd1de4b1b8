"""Converted figures reconcile exactly: every report converts at one grain (every dimension ×
UTC day × original currency × cost source), so a total is the sum of its rows, and the
summary, the margin report and the overview agree to the nano-unit
(``margin.reports.currency``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api

PERIOD = {"from": "2026-10-01T00:00:00Z", "to": "2026-10-08T00:00:00Z"}


def _get(api: Api, path: str, **params: Any) -> Any:
    answer = api.get(path, params={**PERIOD, **params}, scope="read")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _sum(rows: list[dict[str, Any]], name: str) -> Decimal:
    return sum((Decimal(r[name]) for r in rows if r[name] is not None), Decimal(0))


def _ok(answer: Any) -> None:
    assert answer.status_code in (200, 201), answer.text


def _world(api: Api) -> None:
    """Customers a and b on a 1 USD outcome; each spends 5 nano-EUR with OpenAI on the 5th,
    at 1 EUR = 1.1 USD: 5.5 nano-USD each, which rounds half-even to 6, while their 10
    nano-EUR together are exactly 11 nano-USD."""
    _ok(api.patch("/v1/organization", json={"reporting_currency": "USD"}))
    plan = {"key": "p", "currency": "USD", "outcomes": [{"event_name": "won", "price": "1"}]}
    _ok(api.post("/v1/plans", json=plan))
    rate = {"base": "EUR", "quote": "USD", "date": "2026-10-05", "rate": "1.1"}
    _ok(api.post("/v1/exchange-rates", json={"rates": [rate]}))
    for who in ("a", "b"):
        _ok(api.post("/v1/customers", json={"external_id": who}))
        _ok(api.post("/v1/orders", json={"customer": who, "plan": "p", "starts_at": "2026-10-01"}))
        signal = {"customer": who, "event_name": "won", "timestamp": "2026-10-05T09:00:00Z"}
        _ok(api.post("/v1/signals", json=signal, scope="ingest"))
        cost = {
            "customer": who,
            "provider": "openai",
            "model": "gpt-4o",
            "amount": "0.000000005",
            "currency": "EUR",
            "timestamp": "2026-10-05T10:00:00Z",
        }
        _ok(api.post("/v1/costs", json=cost, scope="ingest"))


def test_a_total_is_the_sum_of_its_converted_rows(api: Api) -> None:
    _world(api)
    each, both = "0.000000006", "0.000000012"
    summary = _get(api, "/v1/reports/summary")
    assert [(r["label"], r["cost"]) for r in summary["rows"]] == [("a", each), ("b", each)]
    assert summary["totals"] == [{"currency": "USD", "cost": both}]
    # The margin report's total is not the 10 nano-EUR converted at once (11): it is the sum
    # of the converted cells, whatever the report is grouped by.
    for group_by in ([], ["customer"], ["provider"], ["model", "customer"], ["event_name"]):
        report = _get(api, "/v1/reports/margin", group_by=group_by)
        [total] = report["totals"]
        assert (total["cost"], total["revenue"], total["profit"]) == (both, "2", "1.999999988")
        assert _sum(report["rows"], "cost") == Decimal(both), group_by
    [alone] = _get(api, "/v1/reports/margin", customer="a")["totals"]
    assert alone["cost"] == each
    overview = _get(api, "/v1/reports/overview", top=1)
    [headline] = overview["totals"]
    assert (headline["cost"], headline["profit"]) == (both, "1.999999988")
    assert sum(Decimal(p["amount"]) for p in headline["parts"]) == Decimal("1.999999988")
    assert _sum(overview["top_customers"], "cost") == Decimal(both)  # a, and b as "Other"
    assert {s["source"]: s["cost"] for s in overview["cost_by_source"]}["ai"] == both


def test_windows_that_cut_a_utc_day_add_up_to_the_day(api: Api) -> None:
    _world(api)
    # Another 5 nano-EUR of a with the same model at 20:00 UTC, after Kolkata's midnight
    # (18:30 UTC): that cell (a, gpt-4o, the 5th, EUR) is cut in two local days, 5 nano-EUR
    # each side. Converted whole it is 11 nano-USD; the first piece gets 5.5 → 6 and the
    # second what is left of the cell, 5.
    cost = {"customer": "a", "provider": "openai", "model": "gpt-4o", "currency": "EUR"}
    late = {**cost, "amount": "0.000000005", "timestamp": "2026-10-05T20:00:00Z"}
    _ok(api.post("/v1/costs", json=late, scope="ingest"))
    kolkata = {"tz": "Asia/Kolkata", "customer": "a"}
    days = _get(api, "/v1/reports/margin", window="day", **kolkata)["rows"]
    assert [(d["window_start"], d["cost"]) for d in days if d["cost"] != "0"] == [
        ("2026-10-04T18:30:00Z", "0.000000006"),
        ("2026-10-05T18:30:00Z", "0.000000005"),
    ]
    [total] = _get(api, "/v1/reports/margin", customer="a")["totals"]
    assert total["cost"] == "0.000000011"
    assert _sum(days, "cost") == Decimal("0.000000011")
    for day in days:
        assert Decimal(day["cost_by_source"]["ai"]) == Decimal(day["cost"])
    weeks = _get(api, "/v1/reports/margin", window="week", **kolkata)["rows"]
    assert _sum(weeks, "cost") == Decimal("0.000000011")
    series = _get(api, "/v1/reports/overview", tz="Asia/Kolkata")["series"]
    assert _sum(series, "cost") == Decimal("0.000000017")  # b's 6 too
