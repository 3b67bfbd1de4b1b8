"""``POST /v1/traces`` in the SDK's span format: the same spans store the same costs, spans
and signals as their OTLP protobuf, and a body that is not that format is refused naming
the field, storing nothing."""

from __future__ import annotations

import gzip
import os
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, set_span_in_context
from sqlalchemy import func, select
from test_otlp import PB, gen_ai, signal_attrs

from margin.sdk import span_batch
from margin.sdk._lightspan import LightSpan
from margin.sdk.payloads import encode_spans, encode_traces
from margin.store.schema import costs, signals, spans
from margin_testing import Api

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


def facts(api: Api, trace: str) -> tuple[list[Any], ...]:
    keep_costs = ("amount", "currency", "model", "provider", "usage", "customer_id", "pricing")
    cost_rows = api.get("/v1/costs", params={"trace_id": trace}, scope="read").json()["data"]
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    return (
        [{k: c.get(k) for k in keep_costs} for c in cost_rows],
        sorted((s["name"], s["kind"], str(s["attributes"])) for s in view["spans"]),
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
