"""``POST /v1/traces`` in the SDK's span format: the same spans store the same costs, spans
and signals as their OTLP protobuf, odd ones (usage out of range, NUL, arrays, far-future or
backwards times) are answered and stored as their OTLP is, and a body that is not that
format is refused naming the field, storing nothing."""

from __future__ import annotations

import gzip
import os
import re
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, set_span_in_context
from sqlalchemy import func, select
from test_otlp import PB, gen_ai, signal_attrs

from margin.sdk import span_batch
from margin.sdk._lightspan import LightSpan
from margin.sdk.payloads import encode_spans, encode_traces
from margin.server.otlp.body import decode
from margin.server.routes import traces
from margin.store.schema import costs, signals, spans
from margin_testing import Api, on_event_loop

SPANS = {"Content-Type": span_batch.MEDIA_TYPE, "Content-Encoding": "gzip"}
RESOURCE = Resource.create({"service.name": "agent"})
SCOPE = InstrumentationScope("margin", "1.0")


def records(trace_id: int) -> list[Any]:
    """A GenAI call and a cost-tracing signal in one trace, as the SDK queues them."""
    queued: list[Any] = []
    parent = set_span_in_context(NonRecordingSpan(SpanContext(trace_id, 0x77, False)))
    for name, attributes in (("chat gpt-4o", gen_ai()), ("margin.signal", signal_attrs("won"))):
        span = LightSpan(name, attributes, SpanKind.CLIENT, parent, RESOURCE, SCOPE, queued.append)
        span.end()
    return queued


def stored(api: Api) -> tuple[int, int, int]:
    with api.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (spans, costs, signals)
        )


def post(api: Api, body: bytes, headers: dict[str, str] = SPANS) -> Any:
    return api.post("/v1/traces", content=body, headers=headers, scope="ingest")


def facts(api: Api, trace: str, *, times: bool = False) -> tuple[list[Any], ...]:
    keep_costs = ("amount", "currency", "model", "provider", "usage", "customer_id", "pricing")
    cost_rows = api.get("/v1/costs", params={"trace_id": trace}, scope="read").json()["data"]
    found = api.get(f"/v1/traces/{trace}", scope="read")
    view = found.json() if found.status_code == 200 else {"spans": [], "signals": []}
    assert found.status_code in (200, 404)
    return (
        [{k: c.get(k) for k in keep_costs} for c in cost_rows],
        sorted(
            (s["name"], s["kind"], str(s["attributes"]), (s["start"], s["end"]) if times else 0)
            for s in view["spans"]
        ),
        sorted((s["event_name"], s["customer_id"]) for s in view["signals"]),
    )


def test_the_span_format_stores_what_its_otlp_stores(api: Api) -> None:
    first, second = (int.from_bytes(os.urandom(16), "big") | 1 for _ in range(2))
    body = encode_spans(records(first)) or b""
    response = post(api, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}
    as_otlp = post(api, encode_traces(records(second)), {**PB, "Content-Encoding": "gzip"})
    assert as_otlp.status_code == 200, as_otlp.text
    ours, theirs = facts(api, f"{first:032x}"), facts(api, f"{second:032x}")
    assert len(ours[0]) == 1
    assert ours[0][0]["amount"] not in (None, "0")
    assert ours[0] == theirs[0]  # the same cost, to the nano-unit
    assert len(ours[2]) == 1
    assert ours[2] == theirs[2]
    assert len(ours[1]) == 2
    assert ours[1] == theirs[1]
    before = stored(api)
    again = post(api, body)
    assert again.status_code == 200
    assert stored(api) == before


def _body(**changes: Any) -> bytes:
    data = orjson.loads(gzip.decompress(encode_spans(records(0xABC)) or b""))
    span = data["spans"][0]
    for key, value in changes.items():
        if key.isdigit():
            span[int(key)] = value(span[int(key)]) if callable(value) else value
        else:
            data[key] = value
    return orjson.dumps(data).replace(b'"2**64"', str(2**64).encode())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[]", "body"),
        (_body(version=2), "version"),
        (_body(extra=1), "extra"),
        (_body(origins=[]), "origins"),
        (orjson.dumps({"version": 1, "origins": {}, "spans": [[0]]}), "spans.0"),
        (_body(**{"0": 5}), "spans.0.origin"),
        (_body(**{"8": 9}), "spans.0.kind"),
        (_body(**{"2": -1}), "spans.0.trace_hi"),
        (_body(**{"2": "2**64"}), "spans.0.trace_hi"),
        (_body(**{"9": 1.5}), "spans.0.start"),
        (_body(**{"6": "no"}), "spans.0.parent_remote"),
        (_body(**{"12": []}), "spans.0.attributes"),
        (_body(**{"12": lambda values: [{"a": 1}, *values[1:]]}), "spans.0.attributes.values.0"),
        (_body(**{"13": [7, ""]}), "spans.0.status"),
        (_body(**{"15": 99}), "spans.0.started"),
    ],
)
def test_a_body_not_in_the_format_is_refused_naming_the_field(
    api: Api, body: bytes, field: str
) -> None:
    before = stored(api)
    for sent, headers in (
        (body, {"Content-Type": span_batch.MEDIA_TYPE}),
        (gzip.compress(body), SPANS),
    ):
        response = post(api, sent, headers)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field
    assert stored(api) == before


def test_an_invalid_span_is_refused_inside_an_accepted_export(api: Api) -> None:
    body = _body(**{"2": 0, "3": 0})  # a zero trace id
    response = post(api, gzip.compress(body))
    assert response.status_code == 200, response.text
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"


def test_another_content_type_is_refused_naming_the_three(api: Api) -> None:
    response = post(api, b"{}", {"Content-Type": "text/plain"})
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert all(kind in detail for kind in ("x-protobuf", "application/json", span_batch.MEDIA_TYPE))


_START = 1_790_000_000_123_456_789  # ns: 2026-09-21


def _records_with(trace_id: int, attributes: dict[str, Any], **span: Any) -> list[Any]:
    """One GenAI span of ``trace_id`` with extra ``attributes``, as the SDK queues it."""
    queued: list[Any] = []
    parent = set_span_in_context(NonRecordingSpan(SpanContext(trace_id, 0x77, True)))
    light = LightSpan(
        span.get("name", "chat gpt-4o"),
        {**gen_ai(), **attributes},
        SpanKind.CLIENT,
        parent,
        RESOURCE,
        SCOPE,
        queued.append,
    )
    light.start_time = span.get("start", _START)
    light.end(span.get("end", _START + 1_500_000))
    return queued


def _ids_out(reasons: str) -> str:
    return re.sub(r"\b[0-9a-f]{16}\b", "<span>", reasons)


def _both_ways(api: Api, attributes: dict[str, Any], **span: Any) -> tuple[Any, Any]:
    """The same span posted in the format and as OTLP protobuf (two traces): each answer."""
    first, second = (int.from_bytes(os.urandom(16), "big") | 1 for _ in range(2))
    ours = post(api, encode_spans(_records_with(first, attributes, **span)) or b"")
    theirs = post(
        api,
        encode_traces(_records_with(second, attributes, **span)),
        {**PB, "Content-Encoding": "gzip"},
    )
    return (ours, f"{first:032x}"), (theirs, f"{second:032x}")


@pytest.mark.parametrize(
    ("attributes", "span", "rejected"),
    [
        ({"gen_ai.usage.input_tokens": -5}, {}, 1),  # the cost refused, the span kept
        ({"gen_ai.usage.input_tokens": 2**63 - 1}, {}, 0),  # kept, unpriced
        ({"gen_ai.usage.input_tokens": 2**63}, {}, 0),  # no int64: left out, as OTel does
        ({"gen_ai.usage.input_tokens": 1.5e308}, {}, 1),
        ({"note": "nul \x00 here"}, {}, 1),  # NUL in an attribute: the span refused
        ({"tags": ("a", "b"), "flags": (True, False), "nums": (1, 2.5)}, {}, 0),
        ({}, {"name": "nul \x00 name"}, 1),
        # 2096: past any MARGIN_MAX_FUTURE_SECONDS from now for decades.
        ({}, {"start": 4_000_000_000_000_000_000, "end": 4_000_000_000_000_000_001}, 1),
        ({}, {"start": _START, "end": _START - 1}, 0),  # ends before it starts
    ],
)
def test_odd_spans_are_answered_and_stored_as_their_otlp_is(
    api: Api, attributes: dict[str, Any], span: dict[str, Any], rejected: int
) -> None:
    (ours, ours_trace), (theirs, theirs_trace) = _both_ways(api, attributes, **span)
    assert ours.status_code == theirs.status_code == 200, (ours.text, theirs.content)
    partial = ours.json().get("partialSuccess", {})
    otlp = ExportTraceServiceResponse.FromString(theirs.content).partial_success
    assert int(partial.get("rejectedSpans", 0)) == otlp.rejected_spans == rejected
    # The reasons name each span by its id, which differs between the two.
    assert _ids_out(partial.get("errorMessage", "")) == _ids_out(otlp.error_message)
    assert facts(api, ours_trace, times=True) == facts(api, theirs_trace, times=True)


def test_a_charset_parameter_and_an_empty_batch_are_taken(api: Api) -> None:
    trace = int.from_bytes(os.urandom(16), "big") | 1
    body = gzip.decompress(encode_spans(records(trace)) or b"")
    typed = {"Content-Type": f"{span_batch.MEDIA_TYPE}; charset=utf-8"}
    response = post(api, body, typed)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert stored(api) == (2, 1, 1)
    empty = orjson.dumps({"version": 1, "origins": {}, "spans": []})
    assert post(api, empty, {"Content-Type": span_batch.MEDIA_TYPE}).json() == {}
    assert stored(api) == (2, 1, 1)


def test_a_body_is_read_off_the_event_loop(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a body is CPU work (an SDK batch of 2,048 spans in this format: about 30 ms),
    which must not hold up the server's other requests: it runs on a worker thread."""
    on_loop: list[bool] = []

    def observed(*args: Any) -> Any:
        on_loop.append(on_event_loop())
        return decode(*args)

    monkeypatch.setattr(traces, "decode", observed)
    trace = int.from_bytes(os.urandom(16), "big") | 1
    assert post(api, encode_spans(records(trace)) or b"").status_code == 200
    assert post(api, b"not json").status_code == 400
    assert on_loop == [False, False]
    assert stored(api) == (2, 1, 1)
