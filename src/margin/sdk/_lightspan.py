"""Margin's own spans, recorded without the OpenTelemetry SDK when nobody else would see them.

When Margin's processor is the only one on the tracer provider (Margin installed it, or you
added no exporter of your own) and the sampler is the default, a span the SDK records would
reach no one but Margin. The SDK pays about 13 µs a span for machinery that then does nothing
(samplers, limits, locks, a processor chain); a ``LightSpan`` is the same record in a few
slots: ids from the same generator, the scope's attributes, start and end times. It is an
OpenTelemetry ``Span``, put in the OpenTelemetry context like any other, so spans of other
instrumentation started inside it (recorded by the SDK) are its children in the same trace.
With any other processor on the provider, Margin's spans go through the SDK as before, so
your own backends see them."""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Callable, Mapping
from time import time_ns
from types import TracebackType
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    DEFAULT_TRACE_STATE,
    INVALID_SPAN_CONTEXT,
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.util import types

from margin.sdk._context import otel_current as _current

__all__ = ["LightSpan", "clean_attributes", "start_light_span"]

log = logging.getLogger("margin")

_PLAIN = frozenset({str, bool, int, float})
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_bits = random.getrandbits
_INVALID = INVALID_SPAN_CONTEXT
_NO_STATE = DEFAULT_TRACE_STATE
_tuple_new = tuple.__new__
_new = object.__new__


def _cleaned(key: str, value: Any) -> Any:
    # Rare (a list, a custom object): validated exactly as the SDK does, by its own container.
    return BoundedAttributes(None, {key: value}, immutable=False).get(key)


class LightSpan(trace_api.Span):
    """A recording span with the attributes an exporter reads from an SDK ``ReadableSpan``
    (``name``, ``parent``, ``attributes``, ``events``, ``start_time``…), handed to ``sink``
    when it ends."""

    __slots__ = (
        "_settle",
        "_sink",
        "attributes",
        "context",
        "end_time",
        "events",
        "instrumentation_scope",
        "kind",
        "links",
        "name",
        "parent",
        "resource",
        "start_time",
        "status",
    )
    dropped_attributes = 0
    dropped_events = 0
    dropped_links = 0
    name: str
    context: SpanContext
    parent: SpanContext | None
    kind: SpanKind
    attributes: dict[str, Any]
    events: list[Event] | tuple[()]
    links: list[Link] | tuple[()]
    status: Status
    resource: Resource
    instrumentation_scope: InstrumentationScope
    _sink: Callable[[LightSpan], None]
    _settle: Callable[[], None] | None
    start_time: int
    end_time: int | None

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self.end_time is not None:
            return
        if type(value) not in _PLAIN:
            value = _cleaned(key, value)
            if value is None:
                return
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        if self.end_time is None:
            if not self.events:
                self.events = []
            self.events.append(Event(name, attributes, timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self.end_time is None and context.is_valid:
            if not self.links:
                self.links = []
            self.links.append(Link(context, attributes))

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK: OK is final, and UNSET never overwrites.
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self.status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        recorded: dict[str, types.AnyValue] = {
            "exception.type": kind.__qualname__
            if module in ("builtins", "")
            else f"{module}.{kind.__qualname__}",
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        recorded.update(attributes or {})
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            return
        self.end_time = end_time or time_ns()
        try:
            self._sink(self)
        except Exception:
            log.warning("margin: could not queue a span", exc_info=True)

    def end_deferred(self, settle: Callable[[], None]) -> None:
        """End the span now, leaving ``settle`` (which adds the attributes read from a call's
        result) to whoever exports it: see ``settle``."""
        if self.end_time is not None:
            return
        self._settle = settle
        self.end_time = time_ns()
        try:
            self._sink(self)
        except Exception:
            log.warning("margin: could not queue a span", exc_info=True)

    def settle(self) -> None:
        """Run the work ``end_deferred`` left, once; exporters call it before reading."""
        settle, self._settle = self._settle, None
        if settle is not None:
            try:
                settle()
            except Exception:
                log.warning("margin: could not complete a span", exc_info=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if exc_val is not None and self.end_time is None:
            self.record_exception(exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        super().__exit__(exc_type, exc_val, exc_tb)

    def __repr__(self) -> str:
        return f'LightSpan(name="{self.name}", context={self.context})'


def clean_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` itself when every value is a plain scalar (the common case), else a
    copy with each value validated as OpenTelemetry does (invalid ones left out)."""
    for value in attributes.values():
        if type(value) not in _PLAIN:
            break
    else:
        return attributes
    out = {}
    for key, value in attributes.items():
        if type(value) not in _PLAIN:
            value = _cleaned(key, value)
        if value is not None:
            out[key] = value
    return out


def start_light_span(
    name: str,
    attributes: dict[str, Any],
    kind: SpanKind,
    parent_context: Context | None,
    resource: Resource,
    scope: InstrumentationScope,
    sink: Callable[[LightSpan], None],
) -> LightSpan:
    """A started ``LightSpan``: the child of the span in ``parent_context`` (the current
    context when None), or the root of a new trace. ``attributes`` becomes the span's own
    dict. (A function, not ``__init__``: it runs for every span, and a class's Python
    ``__init__`` costs the interpreter a separate entry.)"""
    span: LightSpan = _new(LightSpan)
    current: Any = (_current() if parent_context is None else parent_context).get(_SPAN_KEY)
    parent: SpanContext
    if current is None:
        parent = _INVALID
    elif type(current) is LightSpan:
        parent = current.context
    else:
        parent = current.get_span_context()
    # ``SpanContext(...)`` checks the ids' ranges in Python; these are valid by construction,
    # so the same tuple is built directly: (trace id, span id, remote, flags, state, valid).
    # The parent's fields are read by index (``[5]`` is ``is_valid``).
    if parent[5]:
        ids = (parent[0], _bits(64) or 1, False, _SAMPLED, parent[4], True)
        span.parent = parent
    else:
        ids = (_bits(128) or 1, _bits(64) or 1, False, _SAMPLED, _NO_STATE, True)
        span.parent = None
    span.context = _tuple_new(SpanContext, ids)
    span.name = name
    span.kind = kind
    span.attributes = attributes
    # Shared empty tuples until the first event or link: most spans have neither.
    span.events = ()
    span.links = ()
    span.status = _UNSET
    span.resource = resource
    span.instrumentation_scope = scope
    span._sink = sink
    span._settle = None
    span.start_time = time_ns()
    span.end_time = None
    return span
