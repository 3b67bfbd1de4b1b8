"""The hand-written OTLP encoder: byte-for-byte what OpenTelemetry's encoder serialises."""

from __future__ import annotations

import gzip

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from margin.sdk._lightspan import LightSpan
from margin.sdk._wire import encode_request
from margin.sdk.payloads import encode_traces
from margin.semconv import STORE_PROMPT as ATTR_STORE_PROMPT


def _spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    resources = [
        Resource.create({"service.name": "agent", "deployment": "prod"}),
        Resource({"service.name": "other"}, schema_url="https://opentelemetry.io/schemas/1.21.0"),
    ]
    for resource in resources:
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        plain = provider.get_tracer("margin")
        versioned = provider.get_tracer(
            "lib", "1.2.3", schema_url="https://x/1", attributes={"scope.attr": "v"}
        )
        with plain.start_as_current_span("margin.trace", attributes={"customer": "cus_1"}):
            span = versioned.start_span(
                "chat gpt-4o-mini ✓",
                kind=SpanKind.CLIENT,
                attributes={
                    "str": "hello",
                    "empty": "",
                    "unicode": "héllo ✓",
                    "long": "x" * 5000,
                    "bool_true": True,
                    "bool_false": False,
                    "one": 1,
                    "zero": 0,
                    "negative": -42,
                    "big": 2**62,
                    "float": 1.25,
                    "float_zero": 0.0,
                    "strings": ("stop", "length"),
                    "ints": [1, 2, 3],
                    "floats": (0.5,),
                    "bools": [True, False],
                },
                links=[Link(SpanContext(5, 6, True), {"link.attr": 1})],
            )
            span.add_event("exception", {"exception.type": "ValueError"})
            span.add_event("plain")
            span.set_status(Status(StatusCode.ERROR, "boom"))
            span.end()
            ok = plain.start_span("ok", kind=SpanKind.SERVER)
            ok.set_status(StatusCode.OK)
            ok.end()
        remote = SpanContext(
            0xABC,
            0xDEF,
            is_remote=True,
            trace_flags=TraceFlags(1),
            trace_state=TraceState([("k", "v")]),
        )
        plain.start_span(
            "remote child", context=set_span_in_context(NonRecordingSpan(remote))
        ).end()
        plain.start_span("", kind=SpanKind.CONSUMER).end()
    return list(exporter.get_finished_spans())


def test_bytes_match_opentelemetry_encoder() -> None:
    spans = _spans()
    assert len(spans) == 10
    assert encode_request(spans) == encode_spans(spans).SerializeToString()


def test_repeated_encodings_reuse_cached_attributes_identically() -> None:
    spans = _spans()
    first = encode_request(spans)
    assert encode_request(spans) == first == encode_spans(spans).SerializeToString()


def test_true_and_one_under_one_key_stay_distinct() -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for value in (True, 1, 1.0, "1"):
        tracer.start_span("s", attributes={"k": value}).end()
    spans = exporter.get_finished_spans()
    request = ExportTraceServiceRequest.FromString(encode_request(spans))
    values = [s.attributes[0].value for s in request.resource_spans[0].scope_spans[0].spans]
    assert [v.WhichOneof("value") for v in values] == [
        "bool_value",
        "int_value",
        "double_value",
        "string_value",
    ]


def _light(attributes: dict[str, object]) -> LightSpan:
    parent = SpanContext(0x1234, 0x9999, False, TraceFlags(1))
    span = LightSpan(
        "chat gpt-4o",
        dict(attributes),
        SpanKind.CLIENT,
        set_span_in_context(NonRecordingSpan(parent)),
        Resource.create({"service.name": "agent"}),
        InstrumentationScope("margin", "1.0"),
        lambda span: None,
    )
    assert span.parent == parent
    span.add_event("note", {"n": 1}, timestamp=5)
    span.end(end_time=span.start_time + 10)
    return span


def test_light_span_encodes_as_the_same_sdk_span_would() -> None:
    light = _light({"margin.customer.external_id": "cus_1", "gen_ai.usage.input_tokens": 12})
    readable = ReadableSpan(
        name=light.name,
        context=light.context,
        parent=light.parent,
        resource=light.resource,
        attributes=light.attributes,
        events=[Event("note", {"n": 1}, timestamp=5)],
        kind=light.kind,
        status=light.status,
        start_time=light.start_time,
        end_time=light.end_time,
        instrumentation_scope=light.instrumentation_scope,
    )
    assert encode_request([light]) == encode_spans([readable]).SerializeToString()


def _decoded_attributes(body: bytes) -> list[dict[str, object]]:
    request = ExportTraceServiceRequest.FromString(gzip.decompress(body))
    return [
        {kv.key: kv.value.string_value for kv in span.attributes}
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def test_prompts_are_left_out_unless_the_scope_kept_them() -> None:
    prompt = {"gen_ai.input.messages": "[secret]", "gen_ai.output.messages": "[answer]"}
    stripped = _light({"margin.customer.external_id": "cus_1", **prompt})
    kept = _light({"margin.customer.external_id": "cus_1", ATTR_STORE_PROMPT: True, **prompt})
    first, second = _decoded_attributes(encode_traces([stripped, kept]))
    assert set(first) == {"margin.customer.external_id"}
    assert set(second) == {"margin.customer.external_id", ATTR_STORE_PROMPT, *prompt}


def _ended(
    name: str,
    attributes: dict[str, object],
    parent: SpanContext | None,
    kind: SpanKind,
    resource: Resource,
    scope: InstrumentationScope,
    status: Status | None = None,
) -> tuple[LightSpan, object]:
    """A LightSpan ended, and what it queued."""
    queued: list[object] = []
    context = set_span_in_context(NonRecordingSpan(parent)) if parent else None
    span = LightSpan(name, attributes, kind, context, resource, scope, queued.append)
    if status is not None:
        span.set_status(status)
    span.end()
    (item,) = queued
    return span, item


def test_an_ended_light_span_is_queued_as_a_record_encoded_as_the_span_itself() -> None:
    resources = [Resource.create({"service.name": "agent"}), Resource({"service.name": "b"})]
    scopes = [InstrumentationScope("margin", "1.0"), InstrumentationScope("other", None, "u")]
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("k", "v")]))
    local = SpanContext(0x1234, 0x9999, False, TraceFlags(1))
    ended = [
        _ended("margin.trace", {"margin.customer.external_id": "c"}, None, SpanKind.INTERNAL,
               resources[0], scopes[0]),
        _ended("chat gpt-4o", {"a": 1, "b": True, "c": 1.5, "d": ("stop",), "e": [1, 2]},
               local, SpanKind.CLIENT, resources[0], scopes[1], Status(StatusCode.ERROR, "boom")),
        _ended("", {}, remote, SpanKind.SERVER, resources[1], scopes[0],
               Status(StatusCode.OK)),
        _ended("x", {"gen_ai.input.messages": "[secret]", ATTR_STORE_PROMPT: True}, local,
               SpanKind.CONSUMER, resources[1], scopes[1]),
        _ended("y", {"gen_ai.input.messages": "[secret]", "k": "v"}, remote,
               SpanKind.PRODUCER, resources[0], scopes[0]),
    ]  # fmt: skip
    spans = [span for span, _ in ended]
    records = [item for _, item in ended]
    assert all(type(record) is tuple for record in records)
    assert encode_request(records) == encode_request(spans)
    assert encode_request(records) == encode_spans(spans).SerializeToString()  # type: ignore[arg-type]
    assert encode_traces(records) == encode_traces(spans)
    mixed = [records[0], spans[1], records[2], spans[3], records[4]]
    assert encode_traces(mixed) == encode_traces(spans)
    decoded = [set(attributes) for attributes in _decoded_attributes(encode_traces(records))]
    assert {"k"} in decoded  # the prompt left out where the scope did not keep it
    assert {"gen_ai.input.messages", ATTR_STORE_PROMPT} in decoded


def test_a_light_span_with_events_or_links_is_queued_itself() -> None:
    resource, scope = Resource.create({}), InstrumentationScope("margin")
    queued: list[object] = []
    for extra in ("event", "link"):
        span = LightSpan("s", {}, SpanKind.INTERNAL, None, resource, scope, queued.append)
        if extra == "event":
            span.add_event("note")
        else:
            span.add_link(SpanContext(5, 6, False))
        span.end()
    assert [type(item) for item in queued] == [LightSpan, LightSpan]


def test_a_record_holds_only_what_the_collector_untracks() -> None:
    # Nothing in a plain span's record keeps it tracked: the young collections untrack its
    # parts, then the record itself, so it never reaches the oldest generation.
    import gc

    _, record = _ended(
        "s", {"a": "b", "n": 1}, None, SpanKind.INTERNAL, Resource.create({}),
        InstrumentationScope("margin"),
    )  # fmt: skip
    gc.collect(0)
    gc.collect(1)
    assert not gc.is_tracked(record)


def test_records_sharing_their_first_attributes_encode_as_their_spans() -> None:
    # A record's first attributes (those its span started with) are encoded as one cached
    # block: the same block with other later attributes, other types of equal values (True,
    # 1, 1.0), a prompt key in either part, or an unhashable value give the spans' bytes.
    resource, scope = Resource.create({"service.name": "agent"}), InstrumentationScope("m")
    parent = set_span_in_context(NonRecordingSpan(SpanContext(0x1234, 0x9999, False)))
    ended = []
    for first, later in [
        ({"op": "chat", "flag": True}, {"id": "a", "n": 1}),
        ({"op": "chat", "flag": True}, {"id": "b", "n": 2}),
        ({"op": "chat", "flag": 1}, {"id": "c"}),
        ({"op": "chat", "flag": 1.0}, {}),
        ({"op": "chat", "flag": True}, {"gen_ai.input.messages": "[secret]"}),
        ({"gen_ai.input.messages": "[secret]", "op": "chat"}, {"id": "d"}),
        ({"gen_ai.input.messages": "[secret]", ATTR_STORE_PROMPT: True}, {"id": "e"}),
        ({"op": "chat", "list": [1, 2]}, {"id": "f"}),
        ({}, {"id": "g"}),
    ]:
        queued: list[object] = []
        span = LightSpan("s", dict(first), SpanKind.CLIENT, parent, resource, scope, queued.append)
        span.set_attributes(later)
        span.end()
        ended.append((span, queued[0]))
    spans = [span for span, _ in ended]
    records = [record for _, record in ended]
    assert all(type(record) is tuple for record in records)
    for _ in range(2):  # the second time from the caches
        assert encode_request(records) == encode_spans(spans).SerializeToString()  # type: ignore[arg-type]
        assert encode_traces(records) == encode_traces(spans)
    decoded = _decoded_attributes(encode_traces(records))
    assert [sorted(attributes) for attributes in decoded[4:7]] == [
        ["flag", "op"],
        ["id", "op"],
        sorted(["gen_ai.input.messages", ATTR_STORE_PROMPT, "id"]),
    ]


def test_values_equal_across_signs_or_types_are_not_taken_from_the_caches() -> None:
    # 0.0 == -0.0 and (1,) == (True,) == (1.0,), but each encodes differently: after the
    # first of each is encoded, the others still give their own bytes, as attributes one by
    # one and as a record's first attributes.
    resource, scope = Resource.create({"service.name": "agent"}), InstrumentationScope("m")
    parent = set_span_in_context(NonRecordingSpan(SpanContext(0x1234, 0x9999, False)))
    values: list[object] = [0.0, -0.0, (1, 2), (True, False), (1.0, 2.0), ("a",), ("a",)]
    ended = []
    for value in values:
        for first, later in (({"v": value}, {}), ({"op": "x"}, {"v": value})):
            queued: list[object] = []
            span = LightSpan(
                "s", dict(first), SpanKind.CLIENT, parent, resource, scope, queued.append
            )
            span.set_attributes(later)
            span.end()
            ended.append((span, queued[0]))
    spans = [span for span, _ in ended]
    records = [record for _, record in ended]
    for _ in range(2):
        assert encode_request(records) == encode_spans(spans).SerializeToString()  # type: ignore[arg-type]
    decoded = ExportTraceServiceRequest.FromString(encode_request(records))
    sent = [
        attribute.value
        for span in decoded.resource_spans[0].scope_spans[0].spans
        for attribute in span.attributes
        if attribute.key == "v"
    ]
    assert [str(value.double_value) for value in sent[:4]] == ["0.0", "0.0", "-0.0", "-0.0"]
    assert [value.array_value.values[0].WhichOneof("value") for value in sent[4:10]] == [
        "int_value", "int_value", "bool_value", "bool_value", "double_value", "double_value",
    ]  # fmt: skip
