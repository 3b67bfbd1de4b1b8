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

from margin.sdk._lightspan import LightSpan

# The faster encoder reuses OpenTelemetry's private helpers; should a release move them,
# delivery falls back to the public encoder instead of breaking ``import margin``.
try:
    from margin.sdk._wire import encode_request

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


# Keys repeat from span to span: whether one holds prompt content is decided once.
_private_keys: dict[str, bool] = {}


def _is_private(key: str) -> bool:
    private = _private_keys.get(key)
    if private is None:
        private = key.startswith(PROMPT_PREFIXES)
        if len(_private_keys) < 4096:
            _private_keys[key] = private
    return private


def _keeps_prompt(span: ReadableSpan) -> bool:
    attributes = span.attributes
    return attributes is not None and attributes.get(ATTR_STORE_PROMPT) is True


def _has_events(span: ReadableSpan) -> bool:
    # ``ReadableSpan.events`` copies the list on every read.
    events = span._events if isinstance(span, ReadableSpan) else span.events
    return bool(events)


def encode_traces(spans: Sequence[ReadableSpan]) -> bytes:
    """Gzipped OTLP ``ExportTraceServiceRequest`` bytes for ``/v1/traces``."""
    for span in spans:
        if isinstance(span, LightSpan):
            span.settle()  # a wrapped call's result is read here, off the caller's thread
    if not _FAST_ENCODER:  # pragma: no cover
        request = _otel_encode_spans([redact(span) for span in spans])
        return gzip.compress(request.SerializeToString(), compresslevel=1)
    # Attributes are filtered while encoding; only spans with events (rare) are copied.
    prepared = [redact(span) if _has_events(span) else span for span in spans]
    body = encode_request(prepared, _is_private, _keeps_prompt)
    return gzip.compress(body, compresslevel=1)


def encode_signals(items: Sequence[Mapping[str, Any]]) -> bytes:
    """JSON bytes of ``{"items": [...]}`` for ``/v1/signals``."""
    return orjson.dumps({"items": list(items)}, default=str)
