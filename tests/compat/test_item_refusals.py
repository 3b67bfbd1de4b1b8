"""A bad item of a Paid batch fails alone, with its index and its field as Paid's wire names
it, and nothing of it is stored; Paygent's counts are numbers, not booleans; a signal's
``costData`` is judged as Margin's own ``/v1/signals`` judges it. On both stores."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from margin.store.schema import costs, signals
from margin_testing import Api

PAID = "/compat/paid/api/v2"
CUSTOMER = {"externalCustomerId": "acme"}


def _count(api: Api, table: Any) -> int:
    with api.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _bulk(api: Api, what: str, items: list[Any]) -> Any:
    return api.post(f"{PAID}/{what}/bulk", json={what: items}, scope="ingest")


def test_a_paid_cost_of_no_customer_is_refused(api: Api) -> None:
    cost = {"type": "cost", "customer": {}, "amount": "1", "currency": "USD"}
    response = _bulk(api, "costs", [cost])
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "0.customer"
    good = {**cost, "customer": CUSTOMER}
    body = _bulk(api, "costs", [good, cost]).json()
    assert (body["ingested"], body["failed"]) == (1, 1)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "customer")]
    assert _count(api, costs) == 1
    signal = {"eventName": "won", "customer": {}}
    assert _bulk(api, "signals", [signal]).json()["field"] == "0.customer"
    assert _count(api, signals) == 0


def test_a_value_no_store_holds_fails_its_item_alone(api: Api) -> None:
    bad = ['{"n": 9223372036854775808}', '{"x": NaN}', '{"x": -Infinity}', '{"s": "a\\u0000"}']
    good = '{"eventName": "won", "customer": {"externalCustomerId": "acme"}}'
    items = [good] + [good[:-1] + f', "data": {data}}}' for data in bad]
    raw = '{"signals": [' + ", ".join(items) + "]}"
    response = api.post(
        f"{PAID}/signals/bulk",
        content=raw.encode(),
        headers={"content-type": "application/json"},
        scope="ingest",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["ingested"], body["failed"]) == (1, 4)
    fields = [(1, "data.n"), (2, "data.x"), (3, "data.x"), (4, "data.s")]
    assert [(e["index"], e["field"]) for e in body["errors"]] == fields
    assert _count(api, signals) == 1
    cost = {"type": "cost", "customer": CUSTOMER, "amount": "1", "currency": "USD"}
    body = _bulk(api, "costs", [cost, {**cost, "metadata": {"n": 2**63}}]).json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "metadata.n")]
    assert _count(api, costs) == 1


def test_a_paid_idempotency_conflict_names_the_wire_field(api: Api) -> None:
    first = {"eventName": "won", "customer": CUSTOMER, "idempotencyKey": "k"}
    body = _bulk(api, "signals", [first, {**first, "eventName": "lost"}]).json()
    assert (body["ingested"], body["failed"]) == (1, 1)
    [error] = body["errors"]
    assert (error["index"], error["field"], error["status"]) == (1, "idempotencyKey", "conflict")
    assert _count(api, signals) == 1


def test_a_boolean_is_not_a_token_count(api: Api) -> None:
    usage = {"type": "usage", "customer": CUSTOMER, "vendor": "openai", "model": "gpt-4o"}
    response = _bulk(api, "costs", [{**usage, "usage": {"inputTokens": True}}])
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "0.usage.inputTokens"
    headers = {"paygent-api-key": api.tenant.keys["ingest"]}
    raw = {"provider": "openai", "model": "gpt-4o"}
    for name in ("inputTokens", "outputTokens", "audioDuration", "videoDurationSec"):
        body = {"agentId": "a", "customerId": "c", "rawUsage": {**raw, name: True}}
        response = api.client.post("/api/v2/usage", json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == f"rawUsage.{name}"
    assert _count(api, costs) == 0


def test_cost_data_is_judged_as_on_margins_own_signals(api: Api) -> None:
    """What Margin's ``/v1/signals`` stores or refuses for a ``data.costData``, the Paid
    wire stores or refuses the same, with the same cost."""
    cases: list[Any] = [
        {"vendor": "openai", "cost": {"amount": "0.5", "currency": "USD"}},
        {"vendor": "openai", "cost": {"amount": "x", "currency": "USD"}},
        {"vendor": "openai", "cost": {"amount": "1", "currency": "usd!"}},
        {"vendor": "openai", "cost": "x"},
        "x",
        {"vendor": 5},
    ]
    for n, cost_data in enumerate(cases):
        data = {"costData": cost_data}
        own_item = {"event_name": "won", "customer": "acme", "data": data}
        paid_item = {"eventName": "won", "customer": CUSTOMER, "data": data}
        before = _count(api, costs)
        own = api.post("/v1/signals", json={**own_item, "idempotency_key": f"o{n}"}, scope="ingest")
        own_costs = _count(api, costs) - before
        paid = _bulk(api, "signals", [{**paid_item, "idempotencyKey": f"p{n}"}])
        assert _count(api, costs) - before - own_costs == own_costs, cost_data
        assert (own.status_code, paid.status_code) in ((201, 200), (422, 400)), cost_data
        if own.status_code == 422:
            assert paid.json()["field"] == "0." + own.json()["field"]
