"""Usage attributed to a customer unit: a signal or event naming the unit is stored with it,
counted against the unit's own metered entitlement, and burns the unit's grants before the
customer's, each burn a ledger row naming the unit. Both stores (the ``api`` fixture)."""

from __future__ import annotations

from typing import Any

from control_support import customer, ok, set_clock
from sqlalchemy import func, select

from margin.store.schema import customers, events, signals
from margin_testing import Api

NOW = "2026-10-15T12:00:00+00:00"
_n = iter(range(1_000_000))


def _signal(who: str = "acme", unit: str | None = None, key: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event_name": "meeting_booked",
        "customer": who,
        "timestamp": "2026-10-15T09:00:00Z",
        "idempotency_key": key or f"u-{next(_n)}",
    }
    if unit is not None:
        item["unit"] = unit
    return item


def _send(api: Api, *items: dict[str, Any]) -> Any:
    return ok(api.post("/v1/signals", json={"items": list(items)}, scope="ingest"))


def _balances(api: Api, acme: str, unit: str | None = None) -> dict[str, str]:
    params = {} if unit is None else {"unit": unit}
    rows = ok(api.get(f"/v1/customers/{acme}/credits/balances", params=params, scope="read"))
    return {r["currency"]: r["balance"] for r in rows["data"]}


def _count(api: Api, table: Any) -> int:
    with api.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _setup(api: Api) -> tuple[str, dict[str, str]]:
    set_clock(api, NOW)
    acme = customer(api)
    feature = {
        "key": "meetings",
        "backed_by": "signals",
        "event_name": "meeting_booked",
        "credit_currency": "meetings",
    }
    ok(api.post("/v1/features", json=feature), 201)
    units = {}
    for unit in ("team-a", "team-b"):
        units[unit] = ok(api.post(f"/v1/customers/{acme}/units", json={"external_id": unit}), 201)[
            "id"
        ]
    grants = f"/v1/customers/{acme}/credits/grants"
    body = {"currency": "meetings", "effective_at": "2026-10-01T00:00:00Z"}
    ok(api.post(grants, json={**body, "amount": "10"}), 201)
    made = ok(api.post(grants, params={"unit": "team-a"}, json={**body, "amount": "3"}), 201)
    assert made["unit_id"] == units["team-a"]
    return acme, units


def test_a_units_usage_burns_its_grants_first_then_the_customers(api: Api) -> None:
    acme, units = _setup(api)
    assert (_balances(api, acme), _balances(api, acme, "team-a")) == (
        {"meetings": "10"},
        {"meetings": "3"},
    )
    assert _balances(api, acme, "team-b") == {}
    _send(api, _signal(unit="team-a"), _signal(unit="team-a"))
    assert (_balances(api, acme), _balances(api, acme, "team-a")) == (
        {"meetings": "10"},
        {"meetings": "1"},
    )
    # 3 more: the unit's last credit, then 2 of the customer's.
    _send(api, *[_signal(unit="team-a") for _ in range(3)])
    assert (_balances(api, acme), _balances(api, acme, "team-a")) == (
        {"meetings": "8"},
        {"meetings": "0"},
    )
    # The customer's own usage, and a unit with no grants: the customer's grants.
    _send(api, _signal(), _signal(unit="team-b"))
    assert (_balances(api, acme), _balances(api, acme, "team-a")) == (
        {"meetings": "6"},
        {"meetings": "0"},
    )
    with api.db.read() as conn:
        stored = conn.execute(select(signals.c.unit_id)).scalars().all()
    assert sorted(stored, key=str) == sorted(
        [units["team-a"]] * 5 + [units["team-b"], None], key=str
    )
    grants = ok(api.get(f"/v1/customers/{acme}/credits/grants", scope="read"))["data"]
    own = grants[0]["id"]
    assert [(g["amount"], g["remaining"], g["unit_id"]) for g in grants] == [("10", "6", None)]
    unit_grant = ok(
        api.get(f"/v1/customers/{acme}/credits/grants", params={"unit": "team-a"}, scope="read")
    )["data"][0]
    ledger = f"/v1/customers/{acme}/credits/ledger"
    rows = ok(api.get(ledger, params={"unit": "team-a"}, scope="read"))["data"]
    assert [(r["cause"], r["delta"], r["grant_id"], r["ref"]) for r in rows] == [
        ("grant", "3", unit_grant["id"], None),
        ("usage", "-2", unit_grant["id"], "feature:meetings"),
        ("usage", "-1", unit_grant["id"], "feature:meetings"),  # the unit's grant first
        ("usage", "-2", own, "feature:meetings"),  # then the customer's
    ]
    assert {r["unit_id"] for r in rows} == {units["team-a"]}
    every = ok(api.get(ledger, scope="read"))["data"]
    # The whole ledger adds up to the customer's balance plus its units'.
    assert sum(int(r["delta"]) for r in every) == 6 + 0
    team_b = [(r["delta"], r["grant_id"]) for r in every if r["unit_id"] == units["team-b"]]
    assert team_b == [("-1", own)]


def test_a_units_hard_limit_refuses_that_unit_only(api: Api) -> None:
    acme, _units = _setup(api)
    base = f"/v1/customers/{acme}/entitlements"
    ok(api.put(base, json={"feature": "meetings", "limit": "100", "period": "day"}))
    metered = {"feature": "meetings", "limit": "2", "period": "day"}
    made = ok(api.put(base, params={"unit": "team-a"}, json=metered))
    assert (made["source"], made["limit"]) == ("unit", "2")
    soft = {**metered, "hard": False}
    ok(api.put(base, params={"unit": "team-b"}, json=soft))
    _send(api, _signal(unit="team-a"), _signal(unit="team-b"), _signal())

    def seen(unit: str | None) -> tuple[Any, ...]:
        params = {} if unit is None else {"unit": unit}
        a = ok(api.get(f"{base}/meetings", params=params, scope="read"))
        return a["has_access"], a["usage"], a["limit"], a["overage"], a["balance"]

    assert seen("team-a") == (True, "1", "2", "0", "10")  # 2 of its own + the customer's 8
    assert seen("team-b") == (True, "1", "2", "0", "8")
    _send(api, _signal(unit="team-a"), *[_signal(unit="team-b") for _ in range(3)])
    assert seen("team-a") == (False, "2", "2", "0", "6")
    assert seen("team-b") == (True, "4", "2", "2", "5")  # soft: the overage reported
    assert seen(None) == (True, "7", "100", "0", "5")  # the customer's usage holds its units'
    # A unit's usage is exact per period: another day starts again from 0.
    set_clock(api, "2026-10-16T12:00:00+00:00")
    assert seen("team-a")[:2] == (True, "0")


def test_an_unknown_unit_fails_its_item_and_stores_nothing(api: Api) -> None:
    acme, _units = _setup(api)
    answer = _send(api, _signal(unit="team-z"), _signal(unit="team-a"))
    assert answer["ingested"] == 1
    assert [(f["index"], f["field"]) for f in answer["failed"]] == [(0, "unit")]
    # A customer that does not exist has no units: the item fails and no customer is made.
    before = _count(api, customers)
    refused = api.post("/v1/signals", json=_signal("newco", unit="team-a"), scope="ingest")
    assert (refused.status_code, refused.json()["field"]) == (422, "unit")
    refused = api.post(
        "/v1/events",
        json={"type": "call", "customer": "acme", "unit": "team-z", "idempotency_key": "e-z"},
        scope="ingest",
    )
    assert (refused.status_code, refused.json()["field"]) == (422, "unit")
    assert (_count(api, customers), _count(api, signals), _count(api, events)) == (before, 1, 0)
    # The unit of another customer is not this customer's.
    globex = customer(api, "globex")
    ok(api.post(f"/v1/customers/{globex}/units", json={"external_id": "g-1"}), 201)
    wrong = api.post("/v1/signals", json=_signal(unit="g-1"), scope="ingest")
    assert (wrong.status_code, wrong.json()["field"]) == (422, "unit")
    assert (_balances(api, acme), _balances(api, acme, "team-a")) == (
        {"meetings": "10"},
        {"meetings": "2"},
    )


def test_a_duplicate_burns_nothing(api: Api) -> None:
    acme, _units = _setup(api)
    item = _signal(unit="team-a", key="once")
    assert _send(api, item)["ingested"] == 1
    again = _send(api, item, _signal(unit="team-a", key="twice"))
    assert (again["ingested"], again["duplicates"]) == (1, 1)
    assert (_balances(api, acme), _balances(api, acme, "team-a")) == (
        {"meetings": "10"},
        {"meetings": "1"},
    )
    # The same key naming another unit is another content: a conflict, nothing burned.
    conflict = api.post(
        "/v1/signals", json={"items": [_signal(unit="team-b", key="once")]}, scope="ingest"
    )
    assert conflict.json()["failed"][0]["status"] == "conflict", conflict.text
    assert _balances(api, acme, "team-a") == {"meetings": "1"}


def test_a_units_events_burn_its_grants_and_meter_its_usage(api: Api) -> None:
    acme, units = _setup(api)
    ok(
        api.post(
            "/v1/meters", json={"key": "exports", "event_type": "export", "aggregation": "count"}
        ),
        201,
    )
    feature = {
        "key": "export",
        "backed_by": "meter",
        "meter": "exports",
        "credit_currency": "meetings",
    }
    ok(api.post("/v1/features", json=feature), 201)
    base = f"/v1/customers/{acme}/entitlements"
    ok(
        api.put(
            base,
            params={"unit": "team-a"},
            json={"feature": "export", "limit": "4", "period": "month"},
        )
    )
    items = [
        {
            "type": "export",
            "customer": "acme",
            "unit": unit,
            "idempotency_key": f"x-{i}",
            "timestamp": "2026-10-15T09:00:00Z",
        }
        for i, unit in enumerate(["team-a"] * 4 + [None])
    ]
    for item in items:
        if item["unit"] is None:
            del item["unit"]
    answer = ok(api.post("/v1/events", json={"items": items}, scope="ingest"))
    assert answer["ingested"] == 5
    with api.db.read() as conn:
        stored = conn.execute(select(events.c.unit_id)).scalars().all()
    assert sorted(stored, key=str) == sorted([units["team-a"]] * 4 + [None], key=str)
    # 4 exports of team-a: its 3 credits, then 1 of the customer's; 1 of the customer's own.
    assert (_balances(api, acme), _balances(api, acme, "team-a")) == (
        {"meetings": "8"},
        {"meetings": "0"},
    )
    check = ok(api.get(f"{base}/export", params={"unit": "team-a"}, scope="read"))
    assert (check["has_access"], check["usage"], check["limit"]) == (False, "4", "4")
