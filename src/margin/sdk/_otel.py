"""Every use Margin makes of OpenTelemetry's non-public API, in one place.

The supported OpenTelemetry range is pinned in ``pyproject.toml`` (floor and ceiling), and
``tests/sdk/test_otel_internals.py`` runs each function here against the newest release in
that range. Should a release move one of these, this module is the one to change; where a
fallback through the public API exists, it is taken instead of failing ``import margin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import propagation

__all__ = [
    "SPAN_KEY",
    "Encoders",
    "attach",
    "attribute_items",
    "context_var",
    "detach",
    "get_context",
    "provider_disabled",
    "readable_parts",
    "reset",
    "span_processors",
    "wire_encoders",
]


#: The context key under which OpenTelemetry keeps the current span (``set_span_in_context``).
SPAN_KEY: str = propagation._SPAN_KEY


def context_var() -> ContextVar[Context] | None:
    """The ContextVar behind OpenTelemetry's current context (its default runtime context):
    its ``get``, ``set`` and ``reset`` are ``get_current``, ``attach`` and ``detach`` without
    their Python frames. None when another runtime context was configured."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    var = getattr(runtime, "_current_context", None)
    return var if isinstance(var, ContextVar) else None


_var = context_var()
#: ``otel_context.get_current``, ``attach`` and ``detach``, as the ContextVar's own methods
#: when it can be read. ``reset`` raises where OpenTelemetry's ``detach`` logs: callers that
#: must not raise call ``detach`` below.
get_context: Callable[[], Context] = otel_context.get_current if _var is None else _var.get
attach: Callable[[Context], Token[Context]] = otel_context.attach if _var is None else _var.set
reset: Callable[[Token[Context]], None] = otel_context.detach if _var is None else _var.reset


def detach(token: Token[Context]) -> None:
    """``otel_context.detach``: ``reset``, or OpenTelemetry's own detach (which logs why, and
    does not raise) when the token cannot be reset here (another context made it)."""
    try:
        reset(token)
    except Exception:
        otel_context.detach(token)


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
