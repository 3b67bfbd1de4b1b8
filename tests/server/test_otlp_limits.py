"""OTLP exports at the edges (#18): spans too far in the future, holding NUL, or counting
negative usage, amounts that no cost may have, very long response ids, and exports stored a
chunk of whole traces at a time."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import event, func, select
from test_otlp import costs_of, export, gen_ai, new_trace, post, signal_attrs, span

from margin.pricing import Pricer
from margin.server.otlp import receive
from margin.server.state import AppState
from margin.store.schema import costs, signals, spans
from margin_testing import Api


def partial(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return ExportTraceServiceResponse.FromString(response.content).partial_success


def count(api: Api, table: Any) -> int:
    with api.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_span_too_far_in_the_future_is_refused_whole(api: Api) -> None:
    trace = new_trace()
    future = span(trace, gen_ai())
    future.end_time_unix_nano = 7_258_118_400 * 10**9  # 2200-01-01
    now = span(trace, gen_ai(**{"gen_ai.response.id": "r-now"}))
    result = partial(post(api, export(future, now), scope="ingest"))
    assert result.rejected_spans == 1
    assert f"span {future.span_id.hex()}: time 2200-01-01T00:00:00Z is too far" in (
        result.error_message
    )
    assert "span, cost and signal refused" in result.error_message
    assert [c["span_id"] for c in costs_of(api, trace)] == [now.span_id.hex()]
    assert count(api, spans) == 1


def test_a_span_holding_nul_is_refused_whole(api: Api) -> None:
    trace = new_trace()
    bad = span(trace, gen_ai(**{"gen_ai.request.model": "gpt-4o\x00"}))
    named = span(trace, gen_ai(**{"gen_ai.response.id": "r2"}), name="chat\x00")
    good = span(trace, gen_ai(**{"gen_ai.response.id": "r3"}))
    result = partial(post(api, export(bad, named, good), scope="ingest"))
    assert result.rejected_spans == 2
    assert result.error_message.count("contains the NUL character") == 2
    assert [c["span_id"] for c in costs_of(api, trace)] == [good.span_id.hex()]
    assert count(api, spans) == 1


def test_negative_usage_and_amounts_refuse_the_cost_and_say_so(api: Api) -> None:
    trace = new_trace()
    negative_tokens = span(trace, gen_ai(**{"gen_ai.usage.output_tokens": -300}))
    negative_amount = span(
        trace,
        {"gen_ai.usage.cost.amount": "-5", "margin.customer.external_id": "acme"},
    )
    tiny_amount = span(
        trace,
        {"gen_ai.usage.cost.amount": "1e-30", "margin.customer.external_id": "acme"},
    )
    result = partial(post(api, export(negative_tokens, negative_amount, tiny_amount)))
    assert result.rejected_spans == 3
    message = result.error_message
    assert (
        f"cost of span {negative_tokens.span_id.hex()}: gen_ai.usage.output_tokens: "
        "a usage count must not be negative"
    ) in message
    assert (
        f"cost of span {negative_amount.span_id.hex()}: gen_ai.usage.cost.amount: "
        "amount must not be negative"
    ) in message
    assert f"cost of span {tiny_amount.span_id.hex()}: gen_ai.usage.cost.amount:" in message
    assert costs_of(api, trace) == []
    assert count(api, spans) == 3  # the spans themselves are kept


def test_a_very_long_response_id_still_keys_one_cost_across_exports(api: Api) -> None:
    trace = new_trace()
    response_id = "r" * 240
    for _ in range(2):
        request = export(span(trace, gen_ai(**{"gen_ai.response.id": response_id})))
        assert partial(post(api, request, scope="ingest")).rejected_spans == 0
    [cost] = costs_of(api, trace)
    assert cost["response_id"] == response_id


def test_a_large_export_is_stored_a_chunk_of_whole_traces_at_a_time(api: Api) -> None:
    traces = [new_trace() for _ in range(7)]
    calls = [
        span(t, gen_ai(**{"gen_ai.response.id": f"r{i}-{n}"}), at=n)
        for i, t in enumerate(traces)
        for n in range(3)
    ]
    outcome = span(traces[6], signal_attrs("won"), name="margin.signal", at=9)
    bad = span(new_trace(), gen_ai())
    bad.span_id = bytes(8)
    request = export(*calls, outcome, bad)
    state = AppState(settings=api.settings, db=api.db, pricer=Pricer(api.db))
    commits: list[object] = []

    def counted(conn: object) -> None:
        commits.append(conn)

    event.listen(api.db.engine, "commit", counted)
    try:
        first = receive(state, api.tenant.org_id, request, chunk_spans=4)
        again = receive(state, api.tenant.org_id, request, chunk_spans=4)
    finally:
        event.remove(api.db.engine, "commit", counted)
    assert (first.spans, first.rejected) == (22, ["span 'chat gpt-4o': invalid span_id"])
    # Traces of 3 spans (the last one 4), at least 4 spans a chunk: 4 chunks an export.
    assert len(commits) == 8
    assert again.rejected == first.rejected
    assert count(api, costs) == 21
    assert count(api, spans) == 22
    assert count(api, signals) == 1
    [won] = api.get("/v1/signals", scope="read").json()["data"]
    assert [c["signal_id"] for c in costs_of(api, traces[6])] == [won["id"]] * 3
    assert all(c["signal_id"] is None for c in costs_of(api, traces[0]))
