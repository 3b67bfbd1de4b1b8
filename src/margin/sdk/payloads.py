"""Request bodies built from finished spans and queued signals, on the delivery thread.

Prompts and completions leave the process only when the span's trace scope asked for it
(``store_prompt=True``): ended spans are immutable, so a filtered copy is encoded instead."""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
    encode_spans as _otel_encode_spans,
)
from opentelemetry.sdk.trace import Event, ReadableSpan

from margin import semconv
from margin.sdk import _otel, _record
from margin.sdk._lightspan import LightSpan

# bench/sdk_overhead.py --mode warm: 34 µs CPU a call with Margin's encoder, 78 µs with
# OpenTelemetry's. It reuses OpenTelemetry's private helpers; should a release move them,
# delivery falls back to the public encoder instead of breaking ``import margin``.
try:
    from margin.sdk import span_batch
    from margin.sdk._wire import encode_request

    _FAST_ENCODER = True
except ImportError:  # pragma: no cover
    _FAST_ENCODER = False
    _record.enabled = False  # OpenTelemetry's encoder reads span objects

__all__ = ["encode_signals", "encode_spans", "encode_traces", "redact"]


def _has_prompt(attributes: Mapping[str, Any] | None) -> bool:
    return bool(attributes) and any(_is_private(k) for k in attributes or ())


def _strip(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if not _is_private(k)}


def redact(span: ReadableSpan) -> ReadableSpan:
    """The span itself, or a copy without prompt/completion content."""
    attributes = span.attributes
    if attributes and attributes.get(semconv.STORE_PROMPT) is True:
        return span
    events = span.events
    dirty_events = any(
        e.name in semconv.CONTENT_EVENTS or _has_prompt(e.attributes) for e in events
    )
    if not dirty_events and not _has_prompt(attributes):
        return span
    kept_events = [
        Event(e.name, _strip(e.attributes), e.timestamp)
        for e in events
        if e.name not in semconv.CONTENT_EVENTS
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


# Keys repeat from span to span: whether one holds prompt content is decided once
# (bench/sdk_overhead.py --mode warm: 50 µs CPU a call with this memo, 76 µs without).
_private_keys: dict[str, bool] = {}


def _is_private(key: str) -> bool:
    private = _private_keys.get(key)
    if private is None:
        private = semconv.is_prompt_key(key)
        if len(_private_keys) < 4096:
            _private_keys[key] = private
    return private


def _has_events(span: ReadableSpan) -> bool:
    return bool(_otel.readable_parts(span)[1])


def encode_traces(spans: Sequence[Any]) -> bytes:
    """Gzipped OTLP ``ExportTraceServiceRequest`` bytes for ``/v1/traces`` of spans and
    ``_record`` tuples (a ``LightSpan`` ended without events or links)."""
    if not _FAST_ENCODER:  # pragma: no cover
        for span in spans:
            if isinstance(span, LightSpan):
                span.read_result()
        request = _otel_encode_spans([redact(span) for span in spans])
        return gzip.compress(request.SerializeToString(), compresslevel=1)
    # Attributes are filtered while encoding; only spans with events (rare) are copied.
    prepared = []
    for span in spans:
        if type(span) is not tuple:
            if type(span) is LightSpan:
                span.read_result()  # a wrapped call's result is read here, off the caller's thread
            if _has_events(span):
                span = redact(span)
        prepared.append(span)
    body = encode_request(prepared, _is_private, _record.keeps_prompt)
    return gzip.compress(body, compresslevel=1)


def encode_spans(spans: Sequence[Any]) -> bytes | None:
    """A ``span_batch`` body of ``_record`` tuples (prompts left out as ``encode_traces``
    leaves them out), or None when the batch must go as OTLP."""
    if not _FAST_ENCODER:  # pragma: no cover
        return None
    return span_batch.encode(spans, _is_private)


def encode_signals(items: Sequence[Mapping[str, Any]]) -> bytes:
    """JSON bytes of ``{"items": [...]}`` for ``/v1/signals``."""
    return orjson.dumps({"items": list(items)}, default=str)
