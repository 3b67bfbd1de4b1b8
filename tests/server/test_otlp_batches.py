"""Whole OTLP exports on the fast ingest path: one transaction per export, exact partial
success for a mix of good and bad spans, nothing stored twice on a retry, rollups that add
up to the stored costs, and costs kept when their customer cannot be resolved."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import event, func, select
from test_otlp import PB, costs_of, export, gen_ai, new_trace, post, signal_attrs, span

from margin.pricing import Pricer
from margin.server.app import create_app
from margin.server.ledger import Ledger
from margin.server.otlp import receive
from margin.server.otlp.convert import convert
from margin.server.otlp.decode import span_chunks
from margin.server.state import AppState
from margin.settings import Settings
from margin.store.db import Database
from margin.store.schema import (
    cost_rollups,
    cost_rollups_daily,
    costs,
    signal_rollups,
    signals,
    spans,
)

if TYPE_CHECKING:  # at runtime ``conftest`` may name another directory's conftest module
    from conftest import Api, Tenant


RESPONSE = "gen_ai.response.id"


def partial(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return ExportTraceServiceResponse.FromString(response.content).partial_success


def snapshot(db: Database) -> dict[str, list[Any]]:
    """Every row an export writes, in a stable order."""
    tables = (costs, spans, signals, cost_rollups, cost_rollups_daily, signal_rollups)
    with db.read() as conn:
        return {
            t.name: sorted(tuple(map(repr, r)) for r in conn.execute(select(t))) for t in tables
        }


def test_mixed_export_gets_exact_partial_success(api: Api) -> None:
    trace = new_trace()
    good = [span(trace, gen_ai(**{"gen_ai.response.id": f"r{i}"})) for i in range(3)]
    zero_trace = span(new_trace(), gen_ai())
    zero_trace.trace_id = bytes(16)
    bad_amount = span(trace, {"gen_ai.usage.cost.amount": "lots", "external_customer_id": "a"})
    blank_model = span(trace, gen_ai(**{"gen_ai.request.model": "   "}))
    padded_model = span(trace, gen_ai(**{"gen_ai.request.model": "gpt-4o "}))
    bad_currency = span(
        trace,
        gen_ai(**{"gen_ai.usage.cost.amount": "0.5", "gen_ai.usage.cost.currency": "EURO"}),
    )
    digit_currency = span(
        trace,
        gen_ai(**{"gen_ai.usage.cost.amount": "0.5", "gen_ai.usage.cost.currency": "U5D"}),
    )
    bad = (zero_trace, bad_amount, blank_model, padded_model, bad_currency, digit_currency)
    result = partial(post(api, export(*good, *bad), scope="ingest"))
    assert result.rejected_spans == 5
    message = result.error_message
    assert "invalid trace_id" in message
    assert "gen_ai.usage.cost.amount" in message
    assert f"cost of span {blank_model.span_id.hex()}: model:" in message
    currency = "gen_ai.usage.cost.currency"
    assert f"cost of span {bad_currency.span_id.hex()}: {currency}:" in message
    assert f"cost of span {digit_currency.span_id.hex()}: {currency}:" in message
    stored = costs_of(api, trace)
    # The three good calls, and the one whose model only needed stripping (as via REST).
    assert len(stored) == 4
    assert {c["model"] for c in stored} == {"gpt-4o"}
    assert {c["priced_by"] for c in stored} == {"catalog"}
    assert {c["amount"] for c in stored} == {"0.00475"}
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    assert len(view["spans"]) == 8  # every span with valid ids is kept, costly or not


def test_retried_export_stores_nothing_twice(api: Api) -> None:
    trace, other = new_trace(), new_trace()
    plain = span(other, gen_ai(customer="globex"))
    request = export(
        span(trace, signal_attrs("won"), name="margin.signal"),
        span(trace, gen_ai(**{"gen_ai.response.id": "r1"})),
        span(trace, gen_ai(**{"gen_ai.request.model": "unknown-model-x"})),
        plain,
    )
    assert partial(post(api, request, scope="ingest")).rejected_spans == 0
    before = snapshot(api.db)
    assert len(before["costs"]) == 3
    assert partial(post(api, request, scope="ingest")).rejected_spans == 0
    assert snapshot(api.db) == before
    # The same span id with other content is a conflict, reported; the rest are duplicates.
    changed = span(other, gen_ai(customer="globex", **{"gen_ai.usage.output_tokens": 9}))
    changed.span_id = plain.span_id
    again = export(span(trace, gen_ai(**{"gen_ai.response.id": "r1"})), changed)
    result = partial(post(api, again, scope="ingest"))
    assert result.rejected_spans == 1
    assert f"cost of span {plain.span_id.hex()}: idempotency_key:" in result.error_message
    after = snapshot(api.db)
    assert len(after.pop("spans")) == len(before.pop("spans")) + 1  # a new span of call r1
    assert after == before


def test_rollups_add_up_to_the_stored_costs(api: Api) -> None:
    spans_ = []
    for i in range(40):
        trace = new_trace()
        model = ("gpt-4o", "gpt-4o-mini", "not-a-model")[i % 3]
        attrs = gen_ai(customer=f"c{i % 4}", **{"gen_ai.request.model": model})
        if i % 5 == 0:
            attrs["gen_ai.usage.cost.amount"] = "0.125"
        spans_.append(span(trace, attrs, at=i * 60_000))
        if i % 7 == 0:
            spans_.append(
                span(trace, signal_attrs("won", customer=f"c{i % 4}"), name="margin.signal")
            )
    assert partial(post(api, export(*spans_), scope="ingest")).rejected_spans == 0
    dims = (costs.c.customer_id, costs.c.agent_id, costs.c.provider, costs.c.model)
    with api.db.read() as conn:
        facts = conn.execute(
            select(
                *dims,
                func.coalesce(func.sum(costs.c.amount_nanos), 0),
                func.count(),
                func.count() - func.count(costs.c.amount_nanos),
            ).group_by(*dims)
        ).all()
        rolled = conn.execute(
            select(
                cost_rollups.c.customer_id,
                cost_rollups.c.agent_id,
                cost_rollups.c.provider,
                cost_rollups.c.model,
                func.sum(cost_rollups.c.amount_nanos),
                func.sum(cost_rollups.c.records),
                func.sum(cost_rollups.c.unpriced),
            ).group_by(
                cost_rollups.c.customer_id,
                cost_rollups.c.agent_id,
                cost_rollups.c.provider,
                cost_rollups.c.model,
            )
        ).all()
        attributed = conn.execute(
            select(func.sum(cost_rollups.c.records)).where(cost_rollups.c.event_name == "won")
        ).scalar()
    assert sorted(
        (c or "", a or "", p or "", m or "", int(n), r, u) for c, a, p, m, n, r, u in facts
    ) == sorted((c, a, p, m, int(n), int(r), int(u)) for c, a, p, m, n, r, u in rolled)
    assert attributed == 6  # the costs of the six traces with a cost-tracing signal


def test_one_export_is_one_commit(api: Api) -> None:
    trace = new_trace()
    request = export(
        span(trace, signal_attrs("won"), name="margin.signal"),
        span(trace, gen_ai(**{"gen_ai.response.id": "r1"})),
        span(trace, gen_ai(**{"gen_ai.response.id": "r2"})),
    )
    state = AppState(settings=api.settings, db=api.db, pricer=Pricer(api.db))
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    event.listen(api.db.engine, "commit", count)
    try:
        received = receive(state, api.tenant.org_id, request)
    finally:
        event.remove(api.db.engine, "commit", count)
    assert received.rejected == []
    assert len(commits) == 1
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    [signal] = view["signals"]
    assert [c["signal_id"] for c in view["costs"]] == [signal["id"]] * 2


@pytest.mark.parametrize("store_kind", ["postgres"])  # SQLite runs one writer at a time
def test_a_slow_export_holds_no_rollup_row_another_export_needs(api: Api) -> None:
    # Both exports add to the same rollup rows (one customer, model and hour). An upsert
    # keeps its rows locked until its transaction ends, so the rollups are written last:
    # an export still busy with its other rows has locked none of them yet.
    ledger = Ledger(api.db, Pricer(api.db), api.settings)
    org_id = api.tenant.org_id

    def cost_items(response_id: str) -> list[dict[str, Any]]:
        [(found, _rejected)] = span_chunks(
            export(span(new_trace(), gen_ai(**{RESPONSE: response_id}))), 2**63, 1000
        )
        return convert(found, lambda traces: {}).costs

    ledger.ingest_export(org_id, [], cost_items("r-first"), "otlp")  # the customer exists
    inside, release = threading.Event(), threading.Event()

    def slow_rows(conn: object) -> None:
        inside.set()
        release.wait(30)

    slow = threading.Thread(
        target=ledger.ingest_export,
        args=(org_id, [], cost_items("r-slow"), "otlp"),
        kwargs={"before_commit": slow_rows},
    )
    quick = threading.Thread(
        target=ledger.ingest_export, args=(org_id, [], cost_items("r-quick"), "otlp")
    )
    slow.start()
    try:
        assert inside.wait(30)
        quick.start()
        quick.join(timeout=10)
        assert not quick.is_alive(), "the quick export waited for the slow one's rollup rows"
    finally:
        release.set()
        slow.join(timeout=30)
        quick.join(timeout=30)
    with api.db.read() as conn:
        stored = conn.execute(select(func.count(), func.sum(costs.c.amount_nanos))).one()
        rolled = conn.execute(
            select(func.sum(cost_rollups.c.records), func.sum(cost_rollups.c.amount_nanos))
        ).one()
    assert stored[0] == 3
    assert (int(rolled[0]), int(rolled[1])) == (3, int(stored[1]))


def test_unknown_customer_keeps_the_cost_when_customers_are_not_created(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    app = create_app(Settings(data_dir=tmp_path, auto_create_customers=False), db=db, migrate=False)
    trace = new_trace()
    request = export(span(trace, gen_ai(customer="nobody")))
    headers = {**tenant.headers("ingest"), **PB}
    with TestClient(app) as client:
        for _ in range(2):  # the retry is a duplicate, not a second cost
            response = client.post(
                "/v1/traces", content=request.SerializeToString(), headers=headers
            )
            assert partial(response).rejected_spans == 0
        listed = client.get(
            "/v1/costs", params={"trace_id": trace}, headers=tenant.headers("read")
        ).json()["data"]
    [cost] = listed
    assert cost["customer_id"] is None
    assert cost["priced_by"] == "catalog"
    assert client.app is app


def test_signals_arriving_after_their_costs_relink_every_trace(api: Api) -> None:
    traces = [new_trace() for _ in range(30)]
    calls = [span(t, gen_ai(**{"gen_ai.response.id": f"r{i}"})) for t in traces for i in range(2)]
    assert partial(post(api, export(*calls), scope="ingest")).rejected_spans == 0
    outcomes = [span(t, signal_attrs("won"), name="margin.signal", at=5) for t in traces]
    assert partial(post(api, export(*outcomes), scope="ingest")).rejected_spans == 0
    with api.db.read() as conn:
        linked = conn.execute(
            select(costs.c.trace_id, signals.c.trace_id).join(
                signals, signals.c.id == costs.c.signal_id
            )
        ).all()
        by_event = dict(
            conn.execute(
                select(cost_rollups.c.event_name, func.sum(cost_rollups.c.records)).group_by(
                    cost_rollups.c.event_name
                )
            ).all()
        )
    assert len(linked) == 60
    assert all(cost_trace == signal_trace for cost_trace, signal_trace in linked)
    assert {k: int(v) for k, v in by_event.items()} == {"": 0, "won": 60}
