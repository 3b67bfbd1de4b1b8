"""Alert rules: thresholds on AI cost, margin, usage and balances fire once per period and
party, even under a retry storm of the same events, and resolve when the value goes back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from control_support import at, cost, customer, ok, set_clock, signals
from sqlalchemy import update

from billing_support import outcome, setup_plan
from margin.control.alerts import evaluate
from margin.store.schema_control import alert_rules
from margin_testing import Api

NOW = "2026-10-20T12:00:00+00:00"


def _storm(api: Api, items: list[dict[str, object]], path: str = "/v1/costs") -> None:
    """The same items sent again by 8 clients at once: all duplicates."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: api.post(path, json={"items": items}, scope="ingest"), range(8))
        )
    assert all(a.json()["duplicates"] == len(items) for a in answers)


def test_cost_thresholds_fire_once_per_customer_and_period(api: Api) -> None:
    set_clock(api, NOW)
    customer(api, "acme")
    customer(api, "globex")
    rule = ok(
        api.post(
            "/v1/alerts/rules",
            json={
                "name": "AI cost this month",
                "metric": "ai_cost",
                "per": "customer",
                "thresholds": ["1", "2.50"],
                "time_zone": "America/New_York",
            },
        ),
        201,
    )
    assert rule["per"] == "customer"
    items = [cost(api, "0.60", "2026-10-05T10:00:00Z") for _ in range(3)]
    cost(api, "0.40", "2026-10-06T10:00:00Z", who="globex")
    for _ in range(3):
        _storm(api, items)
        evaluate(api.db, at(NOW))
    alerts = ok(api.get("/v1/alerts"))["data"]
    assert [(a["threshold"], a["value"], a["state"]) for a in alerts] == [("1", "1.8", "triggered")]
    cost(api, "0.80", "2026-10-07T10:00:00Z")
    assert evaluate(api.db, at(NOW)) == 1
    assert evaluate(api.db, at(NOW)) == 0
    values = sorted((a["threshold"], a["value"]) for a in ok(api.get("/v1/alerts"))["data"])
    assert values == [("1", "1.8"), ("2.50", "2.6")]
    # A new period (New York's November) starts from nothing: nothing fires.
    assert evaluate(api.db, at("2026-11-01T04:00:00+00:00")) == 0
    assert evaluate(api.db, at("2026-11-01T03:59:00+00:00")) == 0


def test_balance_below_a_share_of_granted_fires_and_resolves(api: Api) -> None:
    set_clock(api, NOW)
    acme = customer(api)
    ok(
        api.post(
            "/v1/features",
            json={
                "key": "meetings",
                "backed_by": "signals",
                "event_name": "meeting_booked",
                "credit_currency": "meetings",
            },
        ),
        201,
    )
    grant = {"currency": "meetings", "amount": "100", "effective_at": "2026-10-01T00:00:00Z"}
    ok(api.post(f"/v1/customers/{acme}/credits/grants", json=grant), 201)
    ok(
        api.post(
            "/v1/alerts/rules",
            json={
                "name": "80 % used",
                "metric": "balance",
                "credit_currency": "meetings",
                "customer": "acme",
                "direction": "below",
                "thresholds": ["20%", "5"],
            },
        ),
        201,
    )
    items = signals(api, "meeting_booked", 81, "2026-10-10T09:00:00Z")
    _storm(api, items, "/v1/signals")
    assert evaluate(api.db, at(NOW)) == 1
    assert evaluate(api.db, at(NOW)) == 0
    (alert,) = ok(api.get("/v1/alerts"))["data"]
    assert (alert["threshold"], alert["value"], alert["party"]) == ("20%", "19", f"customer:{acme}")
    ok(api.post(f"/v1/customers/{acme}/credits/grants", json=grant), 201)  # a top-up
    assert evaluate(api.db, at(NOW)) == 1
    (alert,) = ok(api.get("/v1/alerts"))["data"]
    assert alert["state"] == "resolved"
    assert ok(api.get("/v1/alerts", params={"state": "triggered"}))["data"] == []


def test_bad_rules_are_refused_by_field(api: Api) -> None:
    customer(api)
    for body, field in [
        ({"name": "x", "metric": "usage", "thresholds": ["1"]}, "feature"),
        ({"name": "x", "metric": "balance", "thresholds": ["1"]}, "credit_currency"),
        ({"name": "x", "metric": "ai_cost", "thresholds": ["lots"]}, "thresholds"),
        ({"name": "x", "metric": "ai_cost", "thresholds": []}, "thresholds"),
        ({"name": "x", "metric": "ai_cost", "thresholds": ["1"], "time_zone": "X/Y"}, "time_zone"),
        ({"name": "x", "metric": "ai_cost", "thresholds": ["1"], "customer": "nobody"}, "customer"),
    ]:
        answer = api.post("/v1/alerts/rules", json=body)
        assert answer.json()["field"] == field, answer.text
        assert answer.status_code in (404, 422)
    assert ok(api.get("/v1/alerts/rules"))["data"] == []


def test_an_agents_weekly_margin_below_a_threshold(api: Api) -> None:
    set_clock(api, "2026-10-07T12:00:00+00:00")  # a Wednesday
    setup_plan(api, {"fees": []})  # agent sdr; 25 per meeting booked, no fee
    ok(
        api.post(
            "/v1/alerts/rules",
            json={
                "name": "sdr margin",
                "metric": "margin",
                "agent": "sdr",
                "per": "agent",
                "period": "week",
                "direction": "below",
                "thresholds": ["60"],
            },
        ),
        201,
    )
    outcome(api, "meeting_booked", "2026-10-06T10:00:00Z", cost="9")
    assert evaluate(api.db, at("2026-10-07T12:00:00+00:00")) == 0  # 64 %
    outcome(api, "meeting_booked", "2026-10-06T11:00:00Z", cost="12")
    assert evaluate(api.db, at("2026-10-07T12:00:00+00:00")) == 1  # 58 %
    (alert,) = ok(api.get("/v1/alerts"))["data"]
    assert (alert["value"], alert["period_start"]) == ("58", "2026-10-05T00:00:00Z")


def test_a_rule_that_cannot_be_measured_does_not_stop_the_others(api: Api) -> None:
    """A rule whose zone the machine's tzdata no longer names fails alone: the rules after
    it still fire, and it is tried again at the next tick."""
    set_clock(api, NOW)
    customer(api, "acme")
    body = {"metric": "ai_cost", "per": "customer", "thresholds": ["1"]}
    broken = ok(api.post("/v1/alerts/rules", json={**body, "name": "broken"}), 201)
    ok(api.post("/v1/alerts/rules", json={**body, "name": "fine"}), 201)
    with api.db.write() as conn:
        conn.execute(
            update(alert_rules)
            .where(alert_rules.c.id == broken["id"])
            .values(time_zone="Mars/Olympus_Mons")
        )
    cost(api, "1.50", "2026-10-05T10:00:00Z")
    assert evaluate(api.db, at(NOW)) == 1
    alerts = ok(api.get("/v1/alerts"))["data"]
    assert [(a["rule"], a["value"]) for a in alerts] == [("fine", "1.5")]
