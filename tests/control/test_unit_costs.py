"""AI cost attributed to a customer unit: a cost naming the unit (``POST /v1/costs``, a
signal's ``data.costData``, an OTLP span of ``margin.trace(unit=)``) is stored with it,
counted against the unit's own AI-cost entitlement, and burns the unit's grants before the
customer's. Both stores (the ``api`` fixture)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from control_support import at, customer, ok, set_clock
from sqlalchemy import select

import margin
from margin.server.app import create_app
from margin.store.schema import costs
from margin_testing import Api
from server.loopback import serve
from server.test_otlp import export, gen_ai, new_trace, post, span

NOW = "2026-10-15T12:00:00+00:00"
_n = iter(range(1_000_000))


def _cost(amount: str, unit: str | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "customer": "acme",
        "amount": amount,
        "currency": "USD",
        "provider": "openai",
        "model": "gpt-4o",
        "timestamp": "2026-10-15T09:00:00Z",
        "idempotency_key": f"c-{next(_n)}",
        **extra,
    }
    if unit is not None:
        item["unit"] = unit
    return item


def _send(api: Api, *items: dict[str, Any]) -> Any:
    return ok(api.post("/v1/costs", json={"items": list(items)}, scope="ingest"))


def _balance(api: Api, acme: str, unit: str | None = None) -> str:
    params = {} if unit is None else {"unit": unit}
    rows = ok(api.get(f"/v1/customers/{acme}/credits/balances", params=params, scope="read"))
    return {r["currency"]: r["balance"] for r in rows["data"]}.get("tokens", "-")


def _units_of_costs(api: Api) -> list[tuple[str, str | None]]:
    with api.db.read() as conn:
        rows = conn.execute(select(costs.c.idempotency_key, costs.c.unit_id)).all()
    return sorted((key, unit) for key, unit in rows)


def _setup(api: Api) -> tuple[str, dict[str, str]]:
    """acme with units team-a and team-b; 1,000 tokens burn per USD of AI cost; acme holds
    500 tokens and team-a 100 of its own."""
    set_clock(api, NOW)
    acme = customer(api)
    feature = {
        "key": "ai",
        "backed_by": "ai_cost",
        "currency": "USD",
        "credit_currency": "tokens",
        "unit_credits": "1000",
    }
    ok(api.post("/v1/features", json=feature), 201)
    units = {
        name: ok(api.post(f"/v1/customers/{acme}/units", json={"external_id": name}), 201)["id"]
        for name in ("team-a", "team-b")
    }
    grants = f"/v1/customers/{acme}/credits/grants"
    body = {"currency": "tokens", "effective_at": "2026-10-01T00:00:00Z"}
    ok(api.post(grants, json={**body, "amount": "500"}), 201)
    ok(api.post(grants, params={"unit": "team-a"}, json={**body, "amount": "100"}), 201)
    return acme, units


def test_a_units_ai_cost_burns_its_grants_first_and_meets_its_own_limit(api: Api) -> None:
    acme, units = _setup(api)
    base = f"/v1/customers/{acme}/entitlements"
    daily = {"feature": "ai", "limit": "0.25", "period": "day"}
    ok(api.put(base, params={"unit": "team-a"}, json=daily))
    ok(api.put(base, json={"feature": "ai", "limit": "10"}))
    first = [_cost("0.05", "team-a"), _cost("0.10"), _cost("0.02", "team-b")]
    assert _send(api, *first)["ingested"] == 3
    assert (_balance(api, acme), _balance(api, acme, "team-a")) == ("380", "50")
    # 80 tokens: the unit's last 50, then 30 of the customer's; a retry burns nothing.
    answer = _send(api, _cost("0.08", "team-a"), first[0])
    assert (answer["ingested"], answer["duplicates"]) == (1, 1)
    assert (_balance(api, acme), _balance(api, acme, "team-a")) == ("350", "0")

    def seen(unit: str | None) -> tuple[Any, ...]:
        params = {} if unit is None else {"unit": unit}
        a = ok(api.get(f"{base}/ai", params=params, scope="read"))
        return a["has_access"], a["usage"], a["limit"]

    assert seen("team-a") == (True, "0.13", "0.25")
    assert seen(None) == (True, "0.25", "10")  # the customer's usage holds its units'
    _send(api, _cost("0.12", "team-a"))
    assert seen("team-a") == (False, "0.25", "0.25")  # the unit's hard limit: that unit only
    assert seen(None) == (True, "0.37", "10")
    set_clock(api, "2026-10-16T12:00:00+00:00")
    assert seen("team-a")[:2] == (True, "0")  # the unit's usage is exact per period
    rows = ok(api.get(f"/v1/customers/{acme}/credits/ledger", params={"unit": "team-a"}))
    assert [(r["cause"], r["delta"]) for r in rows["data"]] == [
        ("grant", "100"),
        ("usage", "-50"),
        ("usage", "-50"),  # the unit's grant first
        ("usage", "-30"),  # then the customer's
        ("usage", "-120"),
    ]
    assert {r["unit_id"] for r in rows["data"]} == {units["team-a"]}
    listed = ok(api.get("/v1/costs", params={"customer": "acme"}, scope="read"))["data"]
    assert sorted((c["amount"], c["unit_id"] or "") for c in listed) == [
        ("0.02", units["team-b"]),
        ("0.05", units["team-a"]),
        ("0.08", units["team-a"]),
        ("0.1", ""),
        ("0.12", units["team-a"]),
    ]


def test_a_cost_naming_an_unknown_unit_fails_naming_the_field(api: Api) -> None:
    acme, units = _setup(api)
    answer = _send(api, _cost("0.01", "team-z"), _cost("0.02", "team-a"))
    assert answer["ingested"] == 1
    assert [(f["index"], f["field"]) for f in answer["failed"]] == [(0, "unit")]
    # A unit is a customer's: without one it names nothing.
    alone = _cost("0.03", "team-a")
    del alone["customer"]
    refused = api.post("/v1/costs", json=alone, scope="ingest")
    assert refused.status_code == 422
    assert "unit needs customer" in refused.json()["detail"]
    # Another customer's unit is not acme's.
    globex = customer(api, "globex")
    ok(api.post(f"/v1/customers/{globex}/units", json={"external_id": "g-1"}), 201)
    wrong = api.post("/v1/costs", json=_cost("0.04", "g-1"), scope="ingest")
    assert (wrong.status_code, wrong.json()["field"]) == (422, "unit")
    assert [unit for _key, unit in _units_of_costs(api)] == [units["team-a"]]
    assert (_balance(api, acme), _balance(api, acme, "team-a")) == ("500", "80")


def test_a_signals_manual_cost_is_its_units(api: Api) -> None:
    acme, units = _setup(api)
    signal = {
        "event_name": "reply_drafted",
        "customer": "acme",
        "unit": "team-a",
        "timestamp": "2026-10-15T09:00:00Z",
        "idempotency_key": "s-1",
        "data": {"costData": {"vendor": "openai", "cost": {"amount": "0.03", "currency": "USD"}}},
    }
    ok(api.post("/v1/signals", json=signal, scope="ingest"), 201)
    assert [unit for _key, unit in _units_of_costs(api)] == [units["team-a"]]
    assert (_balance(api, acme), _balance(api, acme, "team-a")) == ("500", "70")


def test_otlp_spans_of_a_unit_are_its_costs(api: Api) -> None:
    acme, units = _setup(api)
    unit_key = "margin.customer_unit.external_id"
    traced, other, resource_wide, unknown = new_trace(), new_trace(), new_trace(), new_trace()
    root = span(traced, {"margin.customer.external_id": "acme", unit_key: "team-a"}, name="t")
    request = export(
        root,
        # A span naming no unit is for the unit its trace names.
        span(traced, gen_ai("acme", **{"gen_ai.response.id": "r-1"}), at=1),
        span(other, gen_ai("acme", **{"gen_ai.response.id": "r-2"}), at=2),
        span(unknown, gen_ai("acme", **{unit_key: "team-z", "gen_ai.response.id": "r-3"}), at=3),
    )
    assert post(api, request, scope="ingest").status_code == 200
    team_b = export(
        span(resource_wide, gen_ai("acme", **{"gen_ai.response.id": "r-4"})),
        resource={unit_key: "team-b"},
    )
    assert post(api, team_b, scope="ingest").status_code == 200
    with api.db.read() as conn:
        rows = conn.execute(select(costs.c.trace_id, costs.c.customer_id, costs.c.unit_id)).all()
    found = {trace: (who, unit) for trace, who, unit in rows}
    assert found == {
        traced: (acme, units["team-a"]),
        other: (acme, None),
        resource_wide: (acme, units["team-b"]),
        # An unknown unit never loses the cost: it is kept, as one of an unknown customer is.
        unknown: (None, None),
    }
    amount = ok(api.get("/v1/costs", params={"trace_id": traced}, scope="read"))["data"][0]
    spent = Decimal(amount["amount"])
    assert spent > 0  # priced from the catalog: 1,000 tokens per USD of it burn
    assert Decimal(_balance(api, acme, "team-a")) == 100 - spent * 1000


def test_the_sdk_guard_checks_the_units_entitlement(api: Api) -> None:
    acme, _units = _setup(api)
    unit = "team-a"
    base = f"/v1/customers/{acme}/entitlements"
    ok(api.put(base, params={"unit": unit}, json={"feature": "ai", "limit": "0.05"}))
    ok(api.put(base, json={"feature": "ai", "limit": "10"}))
    _send(api, _cost("0.05", unit))
    app = create_app(api.settings, db=api.db, migrate=False)
    now = at(NOW)
    app.state.margin.clock = lambda: now
    with serve(app) as url:
        margin.configure_checks(api_key=api.tenant.keys["read"], base_url=url, ttl=0, timeout=10)
        try:
            ran = []
            with (
                pytest.raises(margin.EntitlementExceeded) as raised,
                margin.trace("acme", "sdr", require="ai", unit=unit),
            ):
                ran.append(1)
            assert (raised.value.check.unit, raised.value.check.usage, ran) == (unit, "0.05", [])
            with margin.trace("acme", "sdr", require="ai"):  # the customer's own: allowed
                ran.append(2)
            assert ran == [2]
        finally:
            margin.configure_checks(ttl=0).close()
