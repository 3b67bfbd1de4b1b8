"""Margin's span format: read back by the server as the very OTLP bytes the SDK would have
sent for the same spans, used by delivery while the server takes it, OTLP otherwise."""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from collector import Collector
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

import margin
from margin.sdk import span_batch
from margin.sdk._lightspan import LightSpan
from margin.sdk._split import split_payload
from margin.sdk.payloads import encode_spans, encode_traces
from margin.semconv import STORE_PROMPT

Configure = Callable[..., None]  # the `sdk` fixture's type (tests/sdk/conftest.py)

_RESOURCES = [
    Resource.create({"service.name": "agent", "deployment": "prod"}),
    Resource({"service.name": "other", "n": 3}, schema_url="https://opentelemetry.io/s/1.21"),
]
_SCOPES = [
    InstrumentationScope("margin", "1.0"),
    InstrumentationScope("lib", None, "https://x/1", {"scope.attr": "v"}),
]
_PARENTS = [
    None,
    SpanContext(0x1234 << 64 | 0x55, 0x9999, False, TraceFlags(1)),
    SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("k", "v"), ("a", "b")])),
]


def _record(
    attributes: dict[str, Any],
    *,
    later: dict[str, Any] | None = None,
    name: str = "chat gpt-4o",
    kind: SpanKind = SpanKind.CLIENT,
    parent: int = 1,
    origin: int = 0,
    status: Status | None = None,
) -> Any:
    """What an ended LightSpan queues."""
    queued: list[Any] = []
    context = _PARENTS[parent]
    span = LightSpan(
        name,
        dict(attributes),
        kind,
        set_span_in_context(NonRecordingSpan(context)) if context else None,
        _RESOURCES[origin % 2],
        _SCOPES[origin // 2 % 2],
        queued.append,
    )
    span.set_attributes(later or {})
    if status is not None:
        span.set_status(status)
    span.end()
    return queued[0]


def _as_otlp(records: list[Any]) -> bytes:
    body = encode_spans(records)
    assert body is not None
    return span_batch.otlp_request(gzip.decompress(body))


_PROMPT = {"gen_ai.input.messages": "[secret]"}


def test_the_server_reads_the_bytes_the_sdk_would_have_sent_as_otlp() -> None:
    records = [
        _record({"margin.customer.external_id": "c"}, name="margin.trace", parent=0),
        _record(
            {"a": 1, "b": True, "c": 1.5, "d": ("stop",), "e": (1, 2), "u": "héllo ✓"},
            later={"gen_ai.usage.input_tokens": 12, "neg": -42, "big": 2**63 - 1, "z": -0.0},
            origin=1,
            status=Status(StatusCode.ERROR, "boom"),
        ),
        _record(
            {}, name="", kind=SpanKind.SERVER, parent=2, origin=2, status=Status(StatusCode.OK)
        ),
        _record({**_PROMPT, STORE_PROMPT: True}, kind=SpanKind.CONSUMER, origin=3),
        _record({**_PROMPT, "k": "v"}, later={"gen_ai.output.messages": "[x]", "n": 1}),
        _record({"k": "v"}, later=_PROMPT, kind=SpanKind.PRODUCER, parent=2),
        _record({"flag": 1}, later={"past64": 2**63, "floats": (0.5, 1e300)}),
    ]
    assert all(type(record) is tuple for record in records)
    expected = gzip.decompress(encode_traces(records))
    assert _as_otlp(records) == expected
    assert _as_otlp(records) == expected  # again, from the encoder's caches
    body = gzip.decompress(encode_spans(records) or b"")
    assert b"[secret]" in body  # kept where the scope asked for it
    assert b"[x]" not in body  # left out of the body itself, not only of the OTLP


_TEXT = st.text(max_size=12).filter(lambda text: "null" not in text)  # see below
_SCALAR = st.one_of(
    _TEXT,
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
_VALUE = st.one_of(
    _SCALAR,
    st.lists(_TEXT, max_size=3).map(tuple),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3).map(tuple),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3).map(tuple),
)
_KEYS = st.sampled_from(["a", "b", "gen_ai.usage.input_tokens", "gen_ai.input.messages", "ü"])
_SPAN = st.fixed_dictionaries(
    {
        "attributes": st.dictionaries(_KEYS, _VALUE, max_size=4),
        "later": st.dictionaries(_KEYS, _VALUE, max_size=3),
        "name": st.text(max_size=10),
        "kind": st.sampled_from(list(SpanKind)),
        "parent": st.integers(0, 2),
        "origin": st.integers(0, 3),
        "status": st.sampled_from(
            [None, Status(StatusCode.OK), Status(StatusCode.ERROR, "e"), Status(StatusCode.ERROR)]
        ),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_SPAN, min_size=1, max_size=6))
def test_any_batch_of_records_reads_back_as_its_otlp(spans: list[dict[str, Any]]) -> None:
    records = [_record(**span) for span in spans]
    assert _as_otlp(records) == gzip.decompress(encode_traces(records))


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, (1.0, math.nan), ("a", None), 2**64, -(2**63) - 1, ",null"],
    ids=["nan", "inf", "-inf", "nan-in-array", "none-in-array", "past-u64", "past-i64", "text"],
)
def test_a_batch_holding_what_the_format_cannot_carry_goes_as_otlp(value: Any) -> None:
    # (Text that looks like what a JSON encoder writes for those is sent as OTLP too.)
    records = [_record({"a": 1}), _record({"v": "x"})]
    assert encode_spans(records) is not None
    queued: list[Any] = []
    span = LightSpan("s", {}, SpanKind.CLIENT, None, _RESOURCES[0], _SCOPES[0], queued.append)
    span.attributes["v"] = value  # as a value that slipped past cleaning would be held
    span.end()
    assert encode_spans([*records, queued[0]]) is None


def test_a_batch_with_a_span_object_goes_as_otlp() -> None:
    queued: list[Any] = []
    span = LightSpan("s", {}, SpanKind.CLIENT, None, _RESOURCES[0], _SCOPES[0], queued.append)
    span.add_event("note")
    span.end()
    assert type(queued[0]) is LightSpan
    assert encode_spans([_record({"a": 1}), queued[0]]) is None


def test_a_body_is_split_in_halves_holding_every_span_once() -> None:
    records = [_record({"i": i}, origin=i % 4) for i in range(5)]
    body = encode_spans(records)
    assert body is not None
    halves = split_payload("spans", body)
    assert halves is not None
    (n1, first), (n2, second) = halves
    assert (n1, n2) == (2, 3)
    assert _as_otlp(records[:2]) == span_batch.otlp_request(gzip.decompress(first))
    assert _as_otlp(records[2:]) == span_batch.otlp_request(gzip.decompress(second))
    assert split_payload("spans", encode_spans(records[:1]) or b"") is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[]", "body"),
        (b"{", "body"),
        (b'{"version": 2, "origins": {}, "spans": []}', "version"),
        (b'{"version": true, "origins": {}, "spans": []}', "version"),
        (b'{"version": 1, "origins": {}, "spans": [], "x": 1}', "x"),
        (b'{"version": 1, "origins": [], "spans": []}', "origins"),
        (b'{"version": 1, "origins": {}, "spans": {}}', "spans"),
        (b'{"version": 1, "origins": {"0": [[], [], "", "m", "", ""]}, "spans": []}', "origins.0"),
        (b'{"version": 1, "origins": {"0": [[1], ["v"], "", "m", "", "", [], []]}, "spans": []}',
         "origins.0.resource.keys.0"),
        (b'{"version": 1, "origins": {}, "spans": [[0]]}', "spans.0"),
    ],
)  # fmt: skip
def test_a_body_that_is_not_a_batch_is_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(span_batch.FormatError) as caught:
        span_batch.otlp_request(body)
    assert caught.value.field == field


def _spans_body_fields(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(gzip.decompress(body))
    return data


def _traced(n: int) -> None:
    for i in range(n):
        with margin.trace(f"cus_{i % 3}"):
            pass


def test_delivery_sends_margin_spans_in_the_span_format(
    sdk: Configure, collector: Collector
) -> None:
    sdk(max_batch=100)
    _traced(250)
    assert margin.flush(timeout=10)
    assert len(set(collector.span_ids())) == len(collector.span_ids()) == 250
    assert {h["Content-Type"] for h in collector.headers} == {span_batch.MEDIA_TYPE}
    assert _spans_body_fields(collector.bodies[0])["version"] == span_batch.VERSION
    assert margin.delivery_stats()["exported"] == 250


def test_a_server_taking_only_otlp_gets_every_span_as_otlp(
    sdk: Configure, collector: Collector
) -> None:
    collector.takes_spans = False
    sdk(max_batch=100)
    _traced(250)
    assert margin.flush(timeout=10)
    assert len(set(collector.span_ids())) == len(collector.span_ids()) == 250
    types = [h["Content-Type"] for h in collector.headers]
    assert types[0] == span_batch.MEDIA_TYPE  # refused once (415), then OTLP only
    assert set(types[1:]) == {"application/x-protobuf"}
    stats = margin.delivery_stats()
    assert stats["exported"] == 250
    assert stats["rejected"] == stats["dropped"] == stats["dead_lettered"] == 0


def test_spans_spooled_in_the_span_format_replay_to_a_server_taking_only_otlp(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.stop()
    sdk()
    _traced(40)
    margin.shutdown(timeout=0.2)
    files = list((tmp_path / "spool").rglob("*-spans-*.batch"))
    assert sum(int(f.name.split("-")[-1].split(".")[0]) for f in files) == 40
    collector.takes_spans = False
    collector.start()
    sdk()
    assert margin.flush(timeout=10)
    assert len(set(collector.span_ids())) == len(collector.span_ids()) == 40
    assert margin.delivery_stats()["replayed"] == 40
    assert not list((tmp_path / "spool").rglob("*.batch"))
