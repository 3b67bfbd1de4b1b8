"""Values in OTLP spans that cannot be taken as sent: non-finite or fractional usage counts,
signal data holding integers no store keeps, and parent span ids of the wrong length. Each
refuses its span (or its cost, or its signal) with a partial-success reason, never a 500,
a silent drop or an altered value."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import func, select
from test_otlp import costs_of, export, gen_ai, new_span, new_trace, otlp_json, post, span

from margin.store.schema import costs, signals, spans
from margin_testing import Api

JSON = {"Content-Type": "application/json"}


def partial(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return ExportTraceServiceResponse.FromString(response.content).partial_success


def stored(api: Api) -> tuple[int, int, int]:
    """How many spans, costs and signals the store holds."""
    with api.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (spans, costs, signals)
        )


def json_post(api: Api, body: bytes) -> Any:
    return api.post("/v1/traces", content=body, headers=JSON, scope="ingest")


def with_double(request: bytes, key: str, text: str) -> bytes:
    """An OTLP JSON body whose attribute ``key`` is the double ``text`` ("Infinity", "NaN"),
    as OTLP/JSON writes non-finite doubles."""
    data = orjson.loads(request)
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                for kv in sp["attributes"]:
                    if kv["key"] == key:
                        kv["value"] = {"doubleValue": text}
    return orjson.dumps(data)


@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN"])
@pytest.mark.parametrize(
    "key",
    ["gen_ai.image.count", "gen_ai.audio.input_duration_seconds", "gen_ai.ocr.pages_processed"],
)
def test_a_non_finite_usage_count_refuses_the_cost_in_json(api: Api, key: str, text: str) -> None:
    trace, sid = new_trace(), new_span()
    request = export(span(trace, gen_ai(**{key: 1.0}), span_id=sid))
    response = json_post(api, with_double(otlp_json(request), key, text))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": f"cost of span {sid}: {key}: a usage count must be a finite number",
        }
    }
    assert costs_of(api, trace) == []
    assert stored(api) == (1, 0, 0)  # the span itself is kept, as for a negative count


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_a_non_finite_usage_count_refuses_the_cost_in_protobuf(api: Api, value: float) -> None:
    trace, sid = new_trace(), new_span()
    bad = span(trace, gen_ai(**{"gen_ai.image.count": value}), span_id=sid)
    good = span(trace, gen_ai(**{"gen_ai.image.count": 2.0, "gen_ai.response.id": "r-ok"}))
    result = partial(post(api, export(bad, good), scope="ingest"))
    assert result.rejected_spans == 1
    assert result.error_message == (
        f"cost of span {sid}: gen_ai.image.count: a usage count must be a finite number"
    )
    [cost] = costs_of(api, trace)
    assert cost["span_id"] == good.span_id.hex()
    assert cost["usage"]["images"] == 2
    assert stored(api) == (2, 1, 0)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (100.7, "a usage count must be a whole number"),
        (True, "a usage count must be a whole number"),
        ("lots", "a usage count must be a whole number"),
        (math.nan, "a usage count must be a finite number"),
        (math.inf, "a usage count must be a finite number"),
    ],
)
def test_a_token_count_that_is_not_whole_refuses_the_cost(
    api: Api, value: Any, reason: str
) -> None:
    trace, sid = new_trace(), new_span()
    bad = span(trace, gen_ai(**{"gen_ai.usage.input_tokens": value}), span_id=sid)
    result = partial(post(api, export(bad), scope="ingest"))
    assert result.rejected_spans == 1
    assert result.error_message == f"cost of span {sid}: gen_ai.usage.input_tokens: {reason}"
    assert costs_of(api, trace) == []
    assert stored(api) == (1, 0, 0)


def test_whole_counts_sent_as_doubles_or_digits_are_counted(api: Api) -> None:
    trace = new_trace()
    double = span(trace, gen_ai(**{"gen_ai.usage.input_tokens": 1200.0, "gen_ai.response.id": "a"}))
    digits = span(trace, gen_ai(**{"gen_ai.usage.input_tokens": "1200", "gen_ai.response.id": "b"}))
    result = partial(post(api, export(double, digits), scope="ingest"))
    assert result.rejected_spans == 0
    found = costs_of(api, trace)
    assert [c["usage"] for c in found] == [
        {"input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 1000}
    ] * 2
    assert {c["amount"] for c in found} == {"0.00475"}
    assert stored(api) == (2, 2, 0)


def signal_span(trace: str, data: str, *, paid: bool = False, span_id: str | None = None) -> Any:
    if paid:
        values = {"event_name": "won", "external_customer_id": "acme", "data": data}
        return span(trace, values, name="paid.trace.signal", span_id=span_id)
    values = {
        "margin.signal.event_name": "won",
        "margin.customer.external_id": "acme",
        "margin.signal.data": data,
    }
    return span(trace, values, name="margin.signal", span_id=span_id)


@pytest.mark.parametrize("paid", [False, True])
@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 2**63])
def test_signal_data_with_an_integer_out_of_range_is_refused(
    api: Api, paid: bool, number: int
) -> None:
    trace, sid = new_trace(), new_span()
    bad = signal_span(trace, f'{{"n": {number}}}', paid=paid, span_id=sid)
    result = partial(post(api, export(bad), scope="ingest"))
    assert result.rejected_spans == 1
    assert result.error_message == (
        f"signal of span {sid}: data.n: integer is outside the signed 64-bit range"
    )
    assert stored(api) == (1, 0, 0)


@pytest.mark.parametrize("paid", [False, True])
def test_signal_data_keeps_its_numbers_exact(api: Api, paid: bool) -> None:
    trace = new_trace()
    data = '{"max": 9223372036854775807, "min": -9223372036854775808, "x": 0.1, "big": 1e300}'
    result = partial(post(api, export(signal_span(trace, data, paid=paid)), scope="ingest"))
    assert result.rejected_spans == 0
    [signal] = api.get("/v1/signals", scope="read").json()["data"]
    assert signal["data"] == {"max": 2**63 - 1, "min": -(2**63), "x": 0.1, "big": 1e300}
    assert type(signal["data"]["max"]) is int
    assert stored(api) == (1, 0, 1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ('{"n": NaN}', "margin.signal.data must be a JSON object"),
        ('{"n": Infinity}', "margin.signal.data must be a JSON object"),
        ("[1]", "margin.signal.data must be a JSON object"),
        ("{", "margin.signal.data must be a JSON object"),
        ('{"n": 1e400}', "data.n: number must be finite"),
    ],
)
def test_signal_data_that_cannot_be_stored_is_refused(api: Api, data: str, reason: str) -> None:
    trace, sid = new_trace(), new_span()
    result = partial(post(api, export(signal_span(trace, data, span_id=sid)), scope="ingest"))
    assert result.rejected_spans == 1
    where = "signal of span" if reason.startswith("data.") else "span"
    assert result.error_message == f"{where} {sid}: {reason}"
    assert stored(api) == (1, 0, 0)


@pytest.mark.parametrize("parent", [b"\x01\x02\x03\x04", bytes(9), bytes(range(1, 17))])
def test_a_parent_span_id_of_the_wrong_length_refuses_the_span(api: Api, parent: bytes) -> None:
    trace, sid = new_trace(), new_span()
    bad = span(trace, gen_ai(), span_id=sid)
    bad.parent_span_id = parent
    good = span(trace, gen_ai(**{"gen_ai.response.id": "r-ok"}), parent=new_span())
    result = partial(post(api, export(bad, good), scope="ingest"))
    assert result.rejected_spans == 1
    assert result.error_message == (
        f"span {sid}: invalid parent_span_id: span, cost and signal refused"
    )
    [cost] = costs_of(api, trace)
    assert cost["span_id"] == good.span_id.hex()
    assert stored(api) == (1, 1, 0)


def test_a_short_parent_span_id_in_json_refuses_the_span(api: Api) -> None:
    trace, sid = new_trace(), new_span()
    data = orjson.loads(otlp_json(export(span(trace, gen_ai(), span_id=sid))))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["parentSpanId"] = "abcd"
    response = json_post(api, orjson.dumps(data))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": f"span {sid}: invalid parent_span_id: span, cost and signal refused",
        }
    }
    assert stored(api) == (0, 0, 0)


def test_paid_audio_seconds_and_counts_round_half_up(api: Api) -> None:
    trace = new_trace()
    attributes = {
        "gen_ai.audio.input_duration_seconds": 2.5,
        "gen_ai.image.count": 1.5,
        "gen_ai.ocr.pages_processed": 0.5,
    }
    assert partial(post(api, export(span(trace, gen_ai(**attributes))), scope="ingest")) == (
        ExportTraceServiceResponse().partial_success
    )
    [cost] = costs_of(api, trace)
    # As providers bill a duration: 2.5 s is 3 s, not the 2 of rounding half to even.
    usage = cost["usage"]
    assert (usage["audio_seconds"], usage["images"], usage["pages"]) == (3, 2, 1)


def test_a_parent_span_id_of_eight_zero_bytes_is_a_root(api: Api) -> None:
    """OTLP says an all-zero span id is invalid: such a parent is no parent, as empty is."""
    trace, sid = new_trace(), new_span()
    root = span(trace, gen_ai(), span_id=sid)
    root.parent_span_id = bytes(8)
    result = partial(post(api, export(root), scope="ingest"))
    assert result.rejected_spans == 0
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    assert [(s["span_id"], s["parent_span_id"]) for s in view["spans"]] == [(sid, None)]
    assert stored(api) == (1, 1, 0)
