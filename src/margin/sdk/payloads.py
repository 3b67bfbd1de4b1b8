"""Request bodies built from finished spans and queued signals, on the delivery thread.

Prompts and completions leave the process only when the span's trace scope asked for it
(``store_prompt=True``): ended spans are immutable, so a filtered copy is encoded instead."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
    encode_spans as _otel_encode_spans,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan

# The faster encoder below reuses OpenTelemetry's private helpers; should a release move them,
# delivery falls back to the public encoder instead of breaking ``import margin``.
try:
    from opentelemetry.exporter.otlp.proto.common._internal import (
        _encode_instrumentation_scope,
        _encode_resource,
        _encode_span_id,
        _encode_trace_id,
        _encode_value,
    )
    from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import (
        _SPAN_KIND_MAP,
        _encode_events,
        _encode_links,
        _encode_parent_id,
        _encode_status,
        _encode_trace_state,
        _span_flags,
    )

    _FAST_ENCODER = True
except ImportError:  # pragma: no cover
    _FAST_ENCODER = False

__all__ = ["ATTR_STORE_PROMPT", "PROMPT_PREFIXES", "encode_signals", "encode_traces", "redact"]

#: Set on spans whose scope allows prompts to be stored.
ATTR_STORE_PROMPT = "margin.store_prompt"

PROMPT_PREFIXES: tuple[str, ...] = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.request.messages",
    "gen_ai.response.messages",
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_messages",
    "llm.output_messages",
    "input.value",
    "output.value",
)
# Legacy per-message log events that carry message content on the span.
_CONTENT_EVENTS = frozenset(
    {
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.client.inference.operation.details",
    }
)


def _has_prompt(attributes: Mapping[str, Any] | None) -> bool:
    return bool(attributes) and any(k.startswith(PROMPT_PREFIXES) for k in attributes or ())


def _strip(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if not k.startswith(PROMPT_PREFIXES)}


def redact(span: ReadableSpan) -> ReadableSpan:
    """The span itself, or a copy without prompt/completion content."""
    attributes = span.attributes
    if attributes and attributes.get(ATTR_STORE_PROMPT) is True:
        return span
    events = span.events
    dirty_events = any(e.name in _CONTENT_EVENTS or _has_prompt(e.attributes) for e in events)
    if not dirty_events and not _has_prompt(attributes):
        return span
    kept_events = [
        Event(e.name, _strip(e.attributes), e.timestamp)
        for e in events
        if e.name not in _CONTENT_EVENTS
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_strip(attributes),
        events=kept_events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


_logger = logging.getLogger("margin")

# Encoded attributes that repeat from span to span (customer, agent, provider, model, token
# counts…) are built once: constructing protobuf messages is most of the delivery thread's
# cost per span, and its CPU competes with the caller's threads for the GIL.
_kv_cache: dict[tuple[str, type, Any], KeyValue] = {}
_KV_CACHE_MAX = 4096
_CACHEABLE = frozenset({str, bool, int, float})


def _key_value(key: str, value: Any) -> KeyValue:
    kind = type(value)
    if kind not in _CACHEABLE or (kind is str and len(value) > 256):
        return KeyValue(key=key, value=_encode_value(value))
    cache_key = (key, kind, value)
    encoded = _kv_cache.get(cache_key)
    if encoded is None:
        encoded = KeyValue(key=key, value=_encode_value(value))
        if len(_kv_cache) >= _KV_CACHE_MAX:
            _kv_cache.clear()
        _kv_cache[cache_key] = encoded
    return encoded


def _encode_attributes(attributes: Mapping[str, Any] | None) -> list[KeyValue]:
    if not attributes:
        return []
    encoded = []
    for key, value in attributes.items():
        try:
            encoded.append(_key_value(key, value))
        except Exception as error:  # as OpenTelemetry's encoder: skip the one bad attribute
            _logger.exception("Failed to encode key %s: %s", key, error)
    return encoded


def _encode_span(span: ReadableSpan) -> PB2Span:
    # OpenTelemetry's ``_encode_span``, with the cached attribute encoding.
    context: Any = span.get_span_context()
    fields: dict[str, Any] = {
        "trace_id": _encode_trace_id(context.trace_id),
        "span_id": _encode_span_id(context.span_id),
        "trace_state": _encode_trace_state(context.trace_state),
        "parent_span_id": _encode_parent_id(span.parent),
        "name": span.name,
        "kind": _SPAN_KIND_MAP[span.kind],
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "attributes": _encode_attributes(span.attributes),
        "events": _encode_events(span.events),
        "links": _encode_links(span.links),
        "status": _encode_status(span.status),
        "dropped_attributes_count": span.dropped_attributes,
        "dropped_events_count": span.dropped_events,
        "dropped_links_count": span.dropped_links,
        "flags": _span_flags(span.parent),
    }
    return PB2Span(**fields)


def encode_spans(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The OTLP request for ``spans``, grouped by resource and scope as OpenTelemetry does."""
    groups: list[tuple[Resource, dict[Any, list[PB2Span]]]] = []
    by_id: dict[int, dict[Any, list[PB2Span]]] = {}
    for span in spans:
        resource = span.resource
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
        scopes.setdefault(span.instrumentation_scope or None, []).append(_encode_span(span))
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=_encode_resource(resource),
                scope_spans=[
                    ScopeSpans(
                        scope=_encode_instrumentation_scope(scope),
                        spans=pb2_spans,
                        schema_url=scope.schema_url if scope else None,  # type: ignore[arg-type]
                    )
                    for scope, pb2_spans in scopes.items()
                ],
                schema_url=resource.schema_url,
            )
            for resource, scopes in groups
        ]
    )


def encode_traces(spans: Sequence[ReadableSpan]) -> bytes:
    """Gzipped OTLP ``ExportTraceServiceRequest`` bytes for ``/v1/traces``."""
    redacted = [redact(span) for span in spans]
    request = encode_spans(redacted) if _FAST_ENCODER else _otel_encode_spans(redacted)
    return gzip.compress(request.SerializeToString(), compresslevel=5)


def encode_signals(items: Sequence[Mapping[str, Any]]) -> bytes:
    """JSON bytes of ``{"items": [...]}`` for ``/v1/signals``."""
    return orjson.dumps({"items": list(items)}, default=str)
