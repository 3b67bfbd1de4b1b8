"""Every use Margin makes of OpenTelemetry's non-public API, in one place.

The supported OpenTelemetry range is pinned in ``pyproject.toml`` (floor and ceiling), and
``tests/sdk/test_otel_internals.py`` runs each function here against the newest release in
that range. Should a release move one of these, this module is the one to change; where a
fallback through the public API exists, it is taken instead of failing ``import margin``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace.propagation import _SPAN_KEY

__all__ = [
    "SPAN_KEY",
    "Encoders",
    "attach",
    "attribute_items",
    "current_context",
    "detach",
    "merge_attributes",
    "provider_disabled",
    "readable_parts",
    "reset",
    "span_processors",
    "wire_encoders",
]

#: The context key the current span is stored under (``trace.set_span_in_context`` uses it):
#: Margin builds a context holding its span in one step instead of two API calls.
SPAN_KEY: str = _SPAN_KEY

_log = logging.getLogger("opentelemetry.context")

# The context API is three Python calls deep around one ContextVar. With the default runtime
# context, Margin's hot paths use that ContextVar directly (same values, same tokens); with
# any other runtime context they go through the API.
_runtime_context = getattr(otel_context, "_RUNTIME_CONTEXT", None)

current_context: Callable[[], Context]
attach: Callable[[Context], object]
#: ``detach`` without its logging: raises what ``ContextVar.reset`` raises.
reset: Callable[[Any], None]

if type(_runtime_context) is ContextVarsRuntimeContext:
    _var: ContextVar[Context] = _runtime_context._current_context
    current_context = _var.get
    attach = _var.set
    reset = _var.reset

    def detach(token: object) -> None:
        """``opentelemetry.context.detach``: a failure is logged, never raised."""
        try:
            _var.reset(token)  # type: ignore[arg-type]
        except Exception:
            _log.exception("Failed to detach context")

else:  # pragma: no cover - another runtime context was configured
    current_context = otel_context.get_current
    attach = otel_context.attach
    reset = otel_context.detach

    def detach(token: object) -> None:
        """``opentelemetry.context.detach``."""
        otel_context.detach(token)  # type: ignore[arg-type]


def span_processors(provider: TracerProvider) -> tuple[SpanProcessor, ...] | None:
    """The processors an SDK provider runs, or None if that cannot be read. The SDK makes a
    new tuple whenever a processor is added, so its identity tells a change."""
    try:
        processors = provider._active_span_processor._span_processors
    except AttributeError:
        return None
    return processors if type(processors) is tuple else None


def provider_disabled(provider: TracerProvider) -> bool:
    """Whether the provider was made with ``OTEL_SDK_DISABLED`` (it records nothing)."""
    return bool(getattr(provider, "_disabled", False))


def merge_attributes(span: Any, attributes: Mapping[str, Any]) -> bool:
    """Add already valid attributes (plain scalars, tuples of str) to an SDK span that is
    still open, in one locked update instead of ``set_attributes``' validation of each value;
    False (nothing done) when the span's container is not the one known here, is limited in
    value length, or would overflow its count limit: call ``set_attributes`` then."""
    bounded = getattr(span, "_attributes", None)
    if (
        type(bounded) is not BoundedAttributes
        or bounded._immutable
        or bounded.max_value_len is not None
        or getattr(span, "_end_time", 0) is not None
        or (bounded.maxlen is not None and len(bounded._dict) + len(attributes) > bounded.maxlen)
    ):
        return False
    with bounded._lock:
        bounded._dict.update(attributes)
    return True


def readable_parts(span: Any) -> tuple[Any, Any, Any]:
    """A span's attributes, events and links, as stored: an SDK ``ReadableSpan``'s
    properties wrap (attributes) or copy (events, links) on every read."""
    if isinstance(span, ReadableSpan):
        return span._attributes, span._events, span._links
    return span.attributes, span.events, span.links


def attribute_items(attributes: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """``attributes.items()``; an SDK ``BoundedAttributes`` is read without its lock and its
    Mapping protocol (its spans are ended, so no longer written)."""
    if type(attributes) is BoundedAttributes:
        return attributes._dict.items()
    return attributes.items()


class Encoders(NamedTuple):
    """The OTLP exporter's private encoders Margin's own span encoder (``_wire``) reuses."""

    value: Callable[[Any], Any]
    resource: Callable[[Any], Any]
    scope: Callable[[Any], Any]
    events: Callable[[Any], Any]
    links: Callable[[Any], Any]
    #: ``SpanKind`` → its OTLP enum value.
    kinds: Mapping[Any, int]


def wire_encoders() -> Encoders:
    """The exporter's private encoders; raises ``ImportError`` when a release has moved them
    (delivery then uses the exporter's public encoder)."""
    from opentelemetry.exporter.otlp.proto.common._internal import (
        _encode_instrumentation_scope,
        _encode_resource,
        _encode_value,
    )
    from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import (
        _SPAN_KIND_MAP,
        _encode_events,
        _encode_links,
    )

    return Encoders(
        _encode_value,
        _encode_resource,
        _encode_instrumentation_scope,
        _encode_events,
        _encode_links,
        _SPAN_KIND_MAP,
    )
