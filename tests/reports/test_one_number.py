"""One number for every amount (issue #14): usage charges, minimums and cost meters reach
every report; tracking modes (``auto`` included) are null, not zero, in every shape; late
lines; bad time zones."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from billing_support import generate, outcome, setup_plan

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api

OCT = {"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}


def _report(api: Api, path: str = "/v1/reports/margin", **params: Any) -> Any:
    answer = api.get(path, params={**OCT, **params}, scope="read")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _events(api: Api, items: list[dict[str, Any]]) -> None:
    answer = api.post("/v1/events", json={"items": items}, scope="ingest")
    assert answer.status_code == 200, answer.text
    assert answer.json()["ingested"] == len(items)


def _meter(api: Api, **body: Any) -> None:
    answer = api.post("/v1/meters", json=body)
    assert answer.status_code == 201, answer.text


def test_usage_charges_and_minimums_are_in_every_report(api: Api) -> None:
    _meter(api, key="calls", event_type="api", aggregation="sum", value_property="$.n")
    usage = [{"key": "calls", "meter": "calls", "model": "per_unit", "unit_price": "0.01"}]
    plan = {"fees": [{"key": "platform", "amount": "100"}], "usage": usage}
    setup_plan(api, plan={**plan, "outcomes": [{"event_name": "meeting_booked", "price": "25"}]})
    for day in (3, 9, 27):
        outcome(api, "meeting_booked", f"2026-10-{day:02d}T10:00:00Z", cost="0.5")
    _events(
        api,
        [
            {"type": "api", "customer": "acme", "timestamp": ts, "data": {"n": n}}
            for ts, n in (("2026-10-02T00:00:00Z", 20), ("2026-10-20T12:00:00Z", 30))
        ],
    )
    [invoice] = generate(api, "2026-10")
    assert invoice["total"] == "175.5"  # 100 + 3 × 25 + 50 × 0.01
    by_customer = _report(api, group_by="customer")
    assert [r["revenue"] for r in by_customer["rows"]] == ["175.5"]
    assert by_customer["totals"][0]["revenue"] == "175.5"
    [total] = _report(api, "/v1/reports/overview")["totals"]
    assert (total["revenue"], total["cost"], total["profit"]) == ("175.5", "1.5", "174")
    # The usage charge lies on its events (20 units on the 2nd, 30 on the 20th), the fee on
    # the days (day k gets ⌊10000·(k+1)/31⌋ − ⌊10000·k/31⌋ cents): the days add up to the month.
    days = _report(api, window="day")["rows"]
    assert sum(Decimal(r["revenue"]) for r in days) == Decimal("175.5")
    on = {int(r["window_start"][8:10]): Decimal(r["revenue"]) for r in days}
    fee = {d: Decimal(10000 * d // 31 - 10000 * (d - 1) // 31) / 100 for d in range(1, 32)}
    extra = {2: Decimal("0.2"), 20: Decimal("0.3"), 3: Decimal(25), 9: Decimal(25), 27: Decimal(25)}
    assert on == {d: fee[d] + extra.get(d, 0) for d in range(1, 32)}
    # A window inside the month holds its part: the first ten days.
    ten = _report(api, **{"from": "2026-10-01", "to": "2026-10-11"})
    # fee: days 1…10 of 31 = ⌊10000·10/31⌋ = 3225 cents; usage 0.20; two meetings
    assert ten["totals"][0]["revenue"] == "82.45"
    # A minimum tops the month up, and the report follows the invoice.
    api.post("/v1/plans", json={"key": "floor", "currency": "USD", "minimum": "500"})
    api.post("/v1/customers", json={"external_id": "small"})
    api.post("/v1/orders", json={"customer": "small", "plan": "floor", "starts_at": "2026-10-16"})
    invoices = {i["customer"]["external_id"]: i for i in generate(api, "2026-10")}
    assert invoices["small"]["total"] == "500"
    rows = {r["label"]: r for r in _report(api, group_by="customer")["rows"]}
    assert rows["small"]["revenue"] == "500"
    assert rows["small"]["cost"] is None  # auto: no cost recorded for it yet


def test_cost_meters_reach_every_cost_figure(api: Api) -> None:
    # Paygentic's cost metrics: a cost event whose amount is the cost.
    _meter(
        api,
        key="sms_cost",
        event_type="cost.sms",
        aggregation="sum",
        value_property="$.amount",
        kind="cost",
        unit_cost="1",
        currency="USD",
    )
    setup_plan(api)
    outcome(api, "meeting_booked", "2026-10-05T10:00:00Z", cost="0.08843")
    _events(
        api,
        [
            {
                "type": "cost.sms",
                "customer": "acme",
                "timestamp": "2026-10-05T10:00:05Z",
                "data": {"amount": 0.0158},
            }
        ],
    )
    [row] = _report(api, group_by="customer")["rows"]
    assert row["cost"] == "0.10423"
    assert row["cost_by_source"] == {"ai": "0.08843", "manual": "0", "meter": "0.0158"}
    overview = _report(api, "/v1/reports/overview")
    assert overview["totals"][0]["cost"] == "0.10423"
    assert {s["source"]: s["cost"] for s in overview["cost_by_source"]} == {
        "ai": "0.08843",
        "manual": "0",
        "meter": "0.0158",
    }
    assert _report(api, "/v1/reports/summary")["totals"] == [{"currency": "USD", "cost": "0.10423"}]
    query = api.get("/v1/meters/sms_cost/query", params=OCT, scope="read").json()
    assert query["cost"] == "0.0158"
    # A manual cost (no model) is its own source.
    manual = {
        "customer": "acme",
        "amount": "2",
        "currency": "USD",
        "timestamp": "2026-10-06T00:00:00Z",
    }
    assert api.post("/v1/costs", json=manual, scope="ingest").status_code == 201
    [row] = _report(api, group_by="customer")["rows"]
    assert row["cost_by_source"] == {"ai": "0.08843", "manual": "2", "meter": "0.0158"}
    assert row["cost"] == "2.10423"
    bad = api.post(
        "/v1/meters",
        json={
            "key": "peak",
            "event_type": "cost.x",
            "aggregation": "max",
            "value_property": "$.v",
            "kind": "cost",
            "unit_cost": "1",
            "currency": "USD",
        },
    )
    assert bad.status_code == 422
    assert "sum" in bad.json()["detail"]


def test_a_cost_only_agent_is_never_billed(api: Api) -> None:
    # The plan names no agent; the agent is cost-only: its outcomes are not billed.
    setup_plan(api, plan={"agent": None, "fees": []})
    api.post("/v1/agents", json={"external_id": "pilot", "tracking_mode": "cost_only"})
    outcome(api, "meeting_booked", "2026-10-05T10:00:00Z", agent="sdr")
    outcome(api, "meeting_booked", "2026-10-06T10:00:00Z", cost="1", agent="pilot")
    [invoice] = generate(api, "2026-10")
    assert invoice["total"] == "25"
    assert _report(api)["totals"][0]["revenue"] == "25"
    rows = {r["label"]: r for r in _report(api, group_by="agent")["rows"]}
    assert rows["pilot"]["revenue"] is None
    assert rows["sdr"]["revenue"] == "25"


def test_not_tracked_is_null_in_every_shape(api: Api) -> None:
    setup_plan(api)
    api.post("/v1/customers", json={"external_id": "shadow", "tracking_mode": "cost_only"})
    api.post("/v1/customers", json={"external_id": "blind", "tracking_mode": "revenue_only"})
    api.post("/v1/customers", json={"external_id": "lead"})  # auto, no order
    api.post("/v1/orders", json={"customer": "blind", "plan": "sdr-pro", "starts_at": "2026-10-01"})
    for who in ("shadow", "blind", "lead"):
        outcome(api, "meeting_booked", "2026-10-07T10:00:00Z", cost="3", customer=who)
    expected = {
        "shadow": ("3", None),  # cost-only
        "blind": (None, "325"),  # revenue-only
        "lead": ("3", None),  # auto, and nothing can produce revenue for it
        "acme": (None, "300"),  # auto, with an order, and no cost recorded yet
    }
    for who, (cost, revenue) in expected.items():
        body = _report(api, customer=who)
        [row] = body["rows"]
        assert (row["cost"], row["revenue"]) == (cost, revenue), who
        assert row["profit"] is None
        assert row["margin_pct"] is None
        assert (row["cost_by_source"] is None) == (cost is None)
        [unit] = _report(api, "/v1/reports/unit-economics", customer=who)["rows"]
        assert unit["profit_per_outcome"] is None
    csv = api.get(
        "/v1/reports/margin", params={**OCT, "customer": "lead", "format": "csv"}, scope="read"
    )
    assert csv.text.splitlines()[1] == "All,USD,3,,,,1,1,0,3,0,0"
    created = api.post("/v1/customers", json={"external_id": "new"}).json()
    assert created["tracking_mode"] == "auto"
    agent = api.post("/v1/agents", json={"external_id": "new-agent"}).json()
    assert agent["tracking_mode"] == "auto"


def test_late_lines_are_counted_where_they_are_billed(api: Api) -> None:
    setup_plan(api, plan={"fees": []})
    outcome(api, "meeting_booked", "2026-10-10T09:00:00Z")
    [october] = generate(api, "2026-10")
    api.post(f"/v1/invoices/{october['id']}/finalize")
    outcome(api, "meeting_booked", "2026-10-20T09:00:00Z")  # late: October is finalized
    outcome(api, "meeting_booked", "2026-11-03T09:00:00Z")
    [november] = generate(api, "2026-11")
    assert november["total"] == "50"
    months = _report(api, window="month", **{"from": "2026-10-01", "to": "2026-12-01"})
    assert [(r["window_start"][:7], r["revenue"]) for r in months["rows"]] == [
        ("2026-10", "25"),
        ("2026-11", "50"),
    ]


@pytest.mark.parametrize("tz", ["a" * 256, "Mars/Olympus", "../etc/passwd", "UTC\x00"])
def test_a_bad_time_zone_is_422_naming_tz(api: Api, tz: str) -> None:
    for path in ("/v1/reports/overview", "/v1/reports/margin", "/v1/reports/summary"):
        answer = api.get(path, params={"tz": tz}, scope="read")
        assert answer.status_code == 422, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"] == "tz"
