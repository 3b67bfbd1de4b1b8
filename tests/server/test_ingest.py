"""Ingest of signals, costs and events: idempotency, exactness, bad input, attribution."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from margin.store.schema import costs, customers, events, signals
from margin_testing import Api


def count(api: Api, table: Any) -> int:
    with api.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def signal(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_name": "email_sent",
        "customer": f"cust-{i % 7}",
        "agent": "sdr",
        "timestamp": "2026-10-05T12:00:00Z",
        "data": {"n": i},
        "idempotency_key": f"sig-{i}",
        **extra,
    }


def test_retry_storm_stores_each_signal_once(api: Api) -> None:
    batch = [signal(i) for i in range(1000)]
    answers = [api.post("/v1/signals", json={"items": batch}, scope="ingest") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sum(a.json()["ingested"] for a in answers) == 1000
    assert sum(a.json()["duplicates"] for a in answers) == 2000
    assert all(a.json()["failed"] == [] for a in answers)
    assert count(api, signals) == 1000
    assert count(api, customers) == 7
    first_ids = [i["id"] for i in answers[0].json()["items"]]
    assert [i["id"] for i in answers[2].json()["items"]] == first_ids


def test_key_reused_with_other_content_is_a_conflict(api: Api) -> None:
    assert api.post("/v1/signals", json=signal(1)).status_code == 201
    again = api.post("/v1/signals", json=signal(1))
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    changed = api.post("/v1/signals", json=signal(1, event_name="meeting_booked"))
    assert changed.status_code == 409
    assert changed.json()["field"] == "idempotency_key"
    mixed = api.post(
        "/v1/signals",
        json={"items": [signal(2), signal(2, data={"other": True}), signal(2)]},
    ).json()
    assert [i["status"] for i in mixed["items"]] == ["ingested", "conflict", "duplicate"]
    assert count(api, signals) == 2


BAD_SIGNALS: list[tuple[Any, int, str]] = [
    ({}, 422, "event_name"),
    ({"event_name": "x"}, 422, "customer"),
    ({"event_name": "", "customer": "a"}, 422, "event_name"),
    ({"event_name": "x", "customer": "a", "timestamp": "yesterday"}, 422, "timestamp"),
    ({"event_name": "x", "customer": "a", "timestamp": "2026-10-05T12:00:00"}, 422, "timestamp"),
    ({"event_name": "x", "customer": "a", "timestamp": "2999-01-01T00:00:00Z"}, 422, "timestamp"),
    ({"event_name": "x", "customer": "a", "trace_id": "xyz"}, 422, "trace_id"),
    ({"event_name": "x", "customer": "a", "data": [1, 2]}, 422, "data"),
    ({"event_name": "x", "customer": "a", "cost_tracing": "maybe"}, 422, "cost_tracing"),
    ({"event_name": "x", "customer": "a", "unknown": 1}, 422, "unknown"),
    ({"event_name": "x", "customer_id": "cus_nope"}, 422, "customer_id"),
    ({"event_name": "x", "customer": "a", "agent_id": "agt_nope"}, 422, "agent_id"),
    ({"event_name": "x", "customer": "a", "idempotency_key": ""}, 422, "idempotency_key"),
    ({"items": "nope"}, 422, "items"),
    ({"items": []}, 422, "items"),
    ({"items": [{"event_name": "x"}]}, 422, "items.0.customer"),
    ({"items": [], "extra": 1}, 422, "extra"),
    ([1, 2], 422, "body"),
]

BAD_COSTS: list[tuple[Any, int, str]] = [
    ({"customer": "a"}, 422, "amount"),
    ({"customer": "a", "amount": "0.1"}, 422, "currency"),
    ({"customer": "a", "amount": "abc", "currency": "USD"}, 422, "amount"),
    ({"customer": "a", "amount": "-1", "currency": "USD"}, 422, "amount"),
    ({"customer": "a", "amount": "NaN", "currency": "USD"}, 422, "amount"),
    ({"customer": "a", "amount": "1e400", "currency": "USD"}, 422, "amount"),
    ({"customer": "a", "amount": "1", "currency": "dollars"}, 422, "currency"),
    ({"customer": "a", "usage": "lots"}, 422, "usage"),
    ({"customer": "a", "amount": "1", "currency": "USD", "span_id": "12"}, 422, "span_id"),
]

BAD_EVENTS: list[tuple[Any, int, str]] = [
    ({"customer": "a"}, 422, "type"),
    ({"type": "api_call", "data": "x"}, 422, "data"),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [("/v1/signals", *c) for c in BAD_SIGNALS]
    + [("/v1/costs", *c) for c in BAD_COSTS]
    + [("/v1/events", *c) for c in BAD_EVENTS],
)
def test_bad_input_is_a_problem_naming_the_field_and_stores_nothing(
    api: Api, path: str, body: Any, status: int, field: str
) -> None:
    response = api.post(path, json=body, scope="ingest")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["field"] == field
    assert field in problem["detail"]
    for table in (signals, costs, events, customers):
        assert count(api, table) == 0


GOOD = {
    "/v1/signals": {"event_name": "x", "customer": "a"},
    "/v1/costs": {"customer": "a", "amount": "0.5", "currency": "USD"},
    "/v1/events": {"type": "api_call", "customer": "a"},
}
ONE_ITEM = [
    (path, body, field)
    for path, cases in (
        ("/v1/signals", BAD_SIGNALS),
        ("/v1/costs", BAD_COSTS),
        ("/v1/events", BAD_EVENTS),
    )
    for body, _status, field in cases
    if isinstance(body, dict) and "items" not in body and field not in ("customer_id", "agent_id")
]


def test_a_bad_item_in_a_batch_is_answered_as_if_sent_alone(api: Api) -> None:
    """A batch is validated as one list; one bad item sends it back item by item, and each
    item is answered with exactly the error it gets alone, the others stored."""
    for case, (path, body, field) in enumerate(ONE_ITEM):
        alone = api.post(path, json=body, scope="ingest").json()
        good = [{**GOOD[path], "idempotency_key": f"good-{case}-{i}"} for i in range(3)]
        items = [good[0], body, good[1], body, good[2]]
        batch = api.post(path, json={"items": items}, scope="ingest").json()
        assert (batch["ingested"], [f["index"] for f in batch["failed"]]) == (3, [1, 3]), body
        expected = {"field": field, "detail": alone["detail"].split(": ", 1)[1]}
        assert alone["field"] == field
        for failed in batch["failed"]:
            assert {"field": failed["field"], "detail": failed["detail"]} == expected


def test_malformed_and_oversized_bodies(api: Api) -> None:
    raw = api.post("/v1/signals", content=b"{not json", scope="ingest")
    assert raw.status_code == 400
    assert raw.json()["field"] == "body"
    empty = api.post("/v1/signals", content=b"", scope="ingest")
    assert (empty.status_code, empty.json()["field"]) == (422, "body")
    typed = api.post(
        "/v1/signals", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (typed.status_code, typed.json()["field"]) == (400, "body")
    huge = (
        b'{"event_name": "x", "customer": "a", "data": {"pad": "'
        + b"x" * (17 * 1024 * 1024)
        + b'"}}'
    )
    too_big = api.post("/v1/signals", content=huge, scope="ingest")
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/problem+json"
    many = [signal(i) for i in range(10_001)]
    assert api.post("/v1/signals", json={"items": many}, scope="ingest").status_code == 413
    assert count(api, signals) == 0


def test_batch_reports_each_failed_item_and_keeps_the_rest(api: Api) -> None:
    batch = [signal(0), {"event_name": "x"}, signal(2, timestamp="not a time"), signal(3)]
    body = api.post("/v1/signals", json={"items": batch}, scope="ingest").json()
    assert body["ingested"] == 2
    assert [(f["index"], f["field"]) for f in body["failed"]] == [(1, "customer"), (2, "timestamp")]
    assert count(api, signals) == 2


def test_unknown_customers_are_created_unless_disabled(api: Api) -> None:
    api.post("/v1/signals", json=signal(0), scope="ingest")
    created = api.get("/v1/customers/external/cust-0").json()
    assert created["external_id"] == "cust-0"
    from dataclasses import replace

    api.client.app.state.margin.settings = replace(api.settings, auto_create_customers=False)  # type: ignore[attr-defined]
    refused = api.post("/v1/signals", json=signal(1), scope="ingest")
    assert refused.status_code == 422
    assert refused.json()["field"] == "customer"
    known = api.post("/v1/signals", json=signal(7), scope="ingest")
    assert known.status_code == 201


def test_manual_cost_on_a_signal_becomes_a_cost_record(api: Api) -> None:
    body = signal(
        0,
        data={
            "costData": {
                "vendor": "acme-llm",
                "cost": {"amount": "0.002", "currency": "USD"},
                "gen_ai.response.model": "house-model",
            }
        },
    )
    answer = api.post("/v1/signals", json=body, scope="ingest").json()
    api.post("/v1/signals", json=body, scope="ingest")
    with api.db.read() as conn:
        rows = conn.execute(select(costs)).all()
    assert len(rows) == 1
    assert rows[0].amount_nanos == 2_000_000
    assert rows[0].priced_by == "provided"
    assert rows[0].signal_id == answer["id"]
    assert rows[0].provider == "acme-llm"
    assert rows[0].model == "house-model"


def test_usage_without_a_price_is_unpriced_never_zero(api: Api) -> None:
    cost = {
        "customer": "a",
        "provider": "nobody",
        "model": "no-such-model",
        "usage": {"input_tokens": 10},
    }
    assert api.post("/v1/costs", json=cost, scope="ingest").status_code == 201
    with api.db.read() as conn:
        row = conn.execute(select(costs)).one()
    assert row.amount_nanos is None
    assert row.priced_by == "unpriced"
    assert row.unpriced_reason
    report = api.get("/v1/reports/summary", params={"from": "2000-01-01"}, scope="read").json()
    assert report["rows"][0]["unpriced"] == 1


@pytest.mark.parametrize("signal_first", [True, False])
def test_costs_belong_to_the_earliest_cost_tracing_signal(api: Api, signal_first: bool) -> None:
    trace = "ab" * 16
    cost_items = [
        {
            "customer": "a",
            "trace_id": trace,
            "amount": amount,
            "currency": "USD",
            "idempotency_key": f"k{i}",
        }
        for i, amount in enumerate(["0.01", "0.02"])
    ]
    outcome = signal(
        0, customer="a", trace_id=trace, cost_tracing=True, event_name="meeting_booked"
    )
    later = signal(
        1, customer="a", trace_id=trace, cost_tracing=True, timestamp="2026-10-05T13:00:00Z"
    )
    steps = [("/v1/signals", outcome), ("/v1/costs", {"items": cost_items}), ("/v1/signals", later)]
    if not signal_first:
        steps = [steps[1], steps[2], steps[0]]
    for path, body in steps:
        assert api.post(path, json=body, scope="ingest").status_code in (200, 201)
    with api.db.read() as conn:
        winner = conn.execute(
            select(signals.c.id).where(signals.c.idempotency_key == "sig-0")
        ).scalar_one()
        linked = conn.execute(select(costs.c.signal_id)).scalars().all()
    assert linked == [winner, winner]
    by_event = api.get(
        "/v1/reports/summary", params={"from": "2000-01-01", "group_by": "event_name"}, scope="read"
    ).json()
    costed = {g["key"]: g["cost"] for g in by_event["rows"] if g["cost"] is not None}
    assert costed == {"meeting_booked": "0.03"}


def test_events_are_stored_once(api: Api) -> None:
    event = {"type": "api_call", "customer": "a", "data": {"amount": 3}, "idempotency_key": "e1"}
    assert api.post("/v1/events", json=event, scope="ingest").status_code == 201
    assert api.post("/v1/events", json=event, scope="ingest").json()["status"] == "duplicate"
    assert count(api, events) == 1
