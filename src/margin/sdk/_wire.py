"""OTLP trace export requests written straight to protobuf wire bytes.

OpenTelemetry's encoder builds a protobuf message object per span, attribute and value and
then serialises the tree: about 33 µs a span here, spent on the delivery thread, whose CPU
the caller's threads pay for under the GIL. Attributes are serialised once and their bytes
reused (``_wire_attrs``); the envelope around them (ids, times, name, status, flags) is
written here. Events and links, which Margin's spans rarely carry, are
serialised by protobuf per span. The output is byte-for-byte what protobuf serialises for
the request OpenTelemetry's encoder builds (the tests hold it to that with the newest
release allowed; 1.30's encoder also leaves out a scope's schema URL, which this writes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from struct import Struct
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from margin.sdk import _otel, _record
from margin.sdk._bounded import keep as _keep
from margin.sdk._wire_attrs import attributes as _attributes
from margin.sdk._wire_attrs import field as _field
from margin.sdk._wire_attrs import record_attributes as _record_attributes
from margin.sdk._wire_attrs import varint as _varint

__all__ = ["encode_request"]

# Raises ImportError if a release moved them: ``payloads`` then uses the public encoder.
_encoders = _otel.wire_encoders()

_FIXED64 = Struct("<Q").pack
_FIXED32 = Struct("<I").pack
# Tags (field number << 3 | wire type) of the Span fields written here.
_TRACE_ID = b"\x0a\x10"  # 1, 16 bytes
_SPAN_ID = b"\x12\x08"  # 2, 8 bytes
_TRACE_STATE = b"\x1a"  # 3
_PARENT_ID = b"\x22\x08"  # 4, 8 bytes
_NAME = b"\x2a"  # 5
_KIND = b"\x30"  # 6, varint
_START = b"\x39"  # 7, fixed64
_END = b"\x41"  # 8, fixed64
_ATTRIBUTE = b"\x4a"  # 9
_DROPPED_ATTRIBUTES = b"\x50"  # 10, varint
_EVENT = b"\x5a"  # 11
_DROPPED_EVENTS = b"\x60"  # 12, varint
_LINK = b"\x6a"  # 13
_DROPPED_LINKS = b"\x70"  # 14, varint
_STATUS = b"\x7a"  # 15
_FLAGS = b"\x85\x01"  # 16, fixed32
# SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, and with SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK.
_LOCAL_FLAGS = _FLAGS + _FIXED32(0x100)
_REMOTE_FLAGS = _FLAGS + _FIXED32(0x300)

# A span's kind (``SpanKind.value``) → its field bytes (none for an unspecified kind).
_KIND_BY_VALUE = {
    kind.value: _KIND + _varint(code) if code else b"" for kind, code in _encoders.kinds.items()
}


def _status(status: Any) -> bytes:
    if status is None:
        return b""
    body = b""
    if status.description:
        data = status.description.encode()
        body += b"\x12" + _varint(len(data)) + data
    if status.status_code.value:
        body += b"\x18" + _varint(status.status_code.value)
    return _STATUS + _varint(len(body)) + body


def _trace_state(trace_state: Any) -> tuple[bytes, bytes, bytes]:
    state = ",".join([f"{k}={v}" for k, v in trace_state.items()]).encode()
    return (_TRACE_STATE, _varint(len(state)), state)


def encode_span(span: Any, private: Callable[[str], bool] | None = None) -> bytes:
    """One ``Span`` message (without its field tag) for an SDK ``ReadableSpan`` or any object
    with the same attributes; attributes whose key is ``private`` are left out."""
    attributes, events, links = _otel.readable_parts(span)
    context = span.get_span_context()
    parts = [
        _TRACE_ID,
        context.trace_id.to_bytes(16, "big"),
        _SPAN_ID,
        context.span_id.to_bytes(8, "big"),
    ]
    trace_state = context.trace_state
    if trace_state:
        parts += _trace_state(trace_state)
    parent = span.parent
    if parent:
        parts += (_PARENT_ID, parent.span_id.to_bytes(8, "big"))
    name = span.name.encode() if span.name else b""
    if name:
        parts += (_NAME, _varint(len(name)), name)
    kind = _encoders.kinds[span.kind]
    if kind:
        parts += (_KIND, _varint(kind))
    if span.start_time:
        parts += (_START, _FIXED64(span.start_time))
    if span.end_time:
        parts += (_END, _FIXED64(span.end_time))
    parts += _attributes(attributes, private)
    if span.dropped_attributes:
        parts += (_DROPPED_ATTRIBUTES, _varint(span.dropped_attributes))
    if events:
        parts += [_field(_EVENT, e.SerializeToString()) for e in _encoders.events(events) or ()]
    if span.dropped_events:
        parts += (_DROPPED_EVENTS, _varint(span.dropped_events))
    if links:
        parts += [_field(_LINK, link.SerializeToString()) for link in _encoders.links(links)]
    if span.dropped_links:
        parts += (_DROPPED_LINKS, _varint(span.dropped_links))
    parts.append(_status(span.status))
    parts.append(_REMOTE_FLAGS if parent is not None and parent.is_remote else _LOCAL_FLAGS)
    return b"".join(parts)


def encode_record(record: tuple[Any, ...], private: Callable[[str], bool] | None = None) -> bytes:
    """``encode_span`` of the ``LightSpan`` a ``_record`` tuple was made of."""
    (_, name, trace_hi, trace_lo, span_id, parent_id, remote, state, kind, start, end, keys,
     values, status, _, started) = record  # fmt: skip
    parts = [_IDS(_TRACE_ID, trace_hi, trace_lo, _SPAN_ID, span_id)]
    if state:
        parts += _trace_state(state)
    if parent_id:
        parts.append(_PARENT(_PARENT_ID, parent_id))
    if name:
        field = _names.get(name)
        if field is None:
            field = _keep(_names, name, _field(_NAME, name.encode()), _CACHE_MAX)
        parts.append(field)
    parts.append(_KIND_BY_VALUE[kind])
    if start and end:
        parts.append(_TIMES(_START, start, _END, end))
    else:
        if start:
            parts += (_START, _FIXED64(start))
        if end:
            parts += (_END, _FIXED64(end))
    if keys:
        parts += _record_attributes(keys, values, started, private)
    parts.append(_status(status) if status else _UNSET_STATUS)
    parts.append(_REMOTE_FLAGS if remote else _LOCAL_FLAGS)
    return b"".join(parts)


# A record's ids, and its start and end times (when both are set), each in one call.
_IDS = Struct(">2sQQ2sQ").pack
_PARENT = Struct(">2sQ").pack
_TIMES = Struct("<cQcQ").pack
_UNSET_STATUS = _STATUS + b"\x00"
# A span name's field bytes, by name: names repeat ("margin.trace", "chat gpt-4o-mini").
_names: dict[str, bytes] = {}
_CACHE_MAX = 4096


def _scope_bytes(scope: InstrumentationScope | None) -> bytes:
    return _field(b"\x0a", _encoders.scope(scope).SerializeToString())


def _group(
    groups: list[tuple[Resource, dict[Any, list[bytes]]]],
    by_id: dict[int, dict[Any, list[bytes]]],
    resource: Resource,
) -> dict[Any, list[bytes]]:
    # Resources hash by serialising their attributes: look each object up once per batch.
    scopes = by_id.get(id(resource))
    if scopes is None:
        for known, known_scopes in groups:
            if known == resource:
                scopes = known_scopes
                break
        else:
            scopes = {}
            groups.append((resource, scopes))
        by_id[id(resource)] = scopes
    return scopes


# A span's field tag and length, by length: spans of one kind have one of few lengths.
_span_heads: dict[int, bytes] = {}


def encode_request(
    spans: Sequence[Any],
    private: Callable[[str], bool] | None = None,
    keeps_private: Callable[[Any], bool] | None = None,
    origins: Sequence[tuple[Resource, InstrumentationScope]] | None = None,
) -> bytes:
    """Serialised ``ExportTraceServiceRequest`` of ``spans`` (span objects or ``_record``
    tuples), grouped by resource and instrumentation scope in first-seen order, as
    OpenTelemetry's encoder groups them. Attributes whose key is ``private`` are left out of
    spans whose attributes ``keeps_private`` refuses (of every span when it is None; a
    record says itself whether its span keeps them: ``_record.keeps_prompt``). A record's
    origin is an index in ``origins`` (``_record.ORIGINS`` when None)."""
    if origins is None:
        origins = _record.ORIGINS
    groups: list[tuple[Resource, dict[Any, list[bytes]]]] = []
    by_id: dict[int, dict[Any, list[bytes]]] = {}
    # The list of each (resource, scope) pair, by the records' origin or the objects' ids.
    lists: dict[Any, list[bytes]] = {}
    for span in spans:
        if type(span) is tuple:
            key: Any = span[_record.ORIGIN]
            keeps = keeps_private is not None and span[_record.KEEPS_PROMPT]
            encoded = encode_record(span, None if keeps else private)
        else:
            key = (id(span.resource), id(span.instrumentation_scope))
            keeps = keeps_private is not None and keeps_private(_otel.readable_parts(span)[0])
            encoded = encode_span(span, None if keeps else private)
        found = lists.get(key)
        if found is None:
            if type(span) is tuple:
                resource, scope = origins[key]
            else:
                resource, scope = span.resource, span.instrumentation_scope
            found = lists[key] = _group(groups, by_id, resource).setdefault(scope or None, [])
        size = len(encoded)
        head = _span_heads.get(size)
        if head is None:
            head = _keep(_span_heads, size, b"\x12" + _varint(size), _CACHE_MAX)
        found += (head, encoded)
    out = []
    for resource, scopes in groups:
        body = [_field(b"\x0a", _encoders.resource(resource).SerializeToString())]
        for scope, encoded_spans in scopes.items():
            scope_body = [_scope_bytes(scope), *encoded_spans]
            if scope is not None and scope.schema_url:
                scope_body.append(_field(b"\x1a", scope.schema_url.encode()))
            body.append(_field(b"\x12", b"".join(scope_body)))
        if resource.schema_url:
            body.append(_field(b"\x1a", resource.schema_url.encode()))
        out.append(_field(b"\x0a", b"".join(body)))
    return b"".join(out)
