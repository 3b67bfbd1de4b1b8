"""Margin's own spans, recorded without the OpenTelemetry SDK when nobody else would see them.

When Margin's processor is the only one on the tracer provider (Margin installed it, or you
added no exporter of your own) and the sampler is the default, a span the SDK records would
reach no one but Margin. The SDK pays for machinery that then does nothing (samplers,
limits, locks, a processor chain); a ``LightSpan`` is the same record in a few slots: ids
from the same generator, the scope's attributes, start and end times (bench/sdk_overhead.py
--mode warm: 36 µs CPU and a 5.5 µs median a call, against 70 and 41 µs through the SDK). It is an
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
    INVALID_SPAN,
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.span import DEFAULT_TRACE_STATE, TraceState
from opentelemetry.util import types

from margin.sdk import _otel, _record

__all__ = ["LightSpan", "clean_attributes", "is_clean"]

log = logging.getLogger("margin")

_PLAIN = frozenset({str, bool, int, float})
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SPAN_KEY = _otel.SPAN_KEY
_current_context = _otel.get_context
_new_tuple = tuple.__new__


def _cleaned(key: str, value: Any) -> Any:
    # Rare (a list, a custom object): validated exactly as the SDK does, by its own container.
    return BoundedAttributes(None, {key: value}, immutable=False).get(key)


class LightSpan(trace_api.Span):
    """A recording span with the attributes an exporter reads from an SDK ``ReadableSpan``
    (``name``, ``parent``, ``attributes``, ``events``, ``start_time``…), handed to ``sink``
    when it ends."""

    __slots__ = (
        "_context",
        "_reader",
        "_sink",
        "_span_id",
        "_started",
        "_state",
        "_trace_id",
        "_up",
        "attributes",
        "end_time",
        "events",
        "instrumentation_scope",
        "kind",
        "links",
        "name",
        "resource",
        "start_time",
        "status",
    )
    dropped_attributes = 0
    dropped_events = 0
    dropped_links = 0
    name: str
    kind: SpanKind
    attributes: dict[str, Any]
    events: list[Event] | tuple[()]
    links: list[Link] | tuple[()]
    status: Status
    resource: Resource
    instrumentation_scope: InstrumentationScope
    _sink: Callable[[Any], None]
    _reader: Callable[[], None] | None
    _started: int
    _trace_id: int
    _span_id: int
    _state: TraceState
    #: The parent: a ``LightSpan``, the ``SpanContext`` of any other span, or None (a root).
    _up: LightSpan | SpanContext | None
    _context: SpanContext | None
    start_time: int
    end_time: int | None

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        kind: SpanKind,
        parent_context: Context | None,
        resource: Resource,
        scope: InstrumentationScope,
        sink: Callable[[Any], None],
    ) -> None:
        """A started span: the child of the span in ``parent_context`` (the current context
        when None), or the root of a new trace. ``attributes`` becomes the span's own dict."""
        # ``get_current_span(parent_context).get_span_context()``, without its Python frames.
        # With the wrappers' and margin.trace's context handled the same way (bench/
        # sdk_overhead.py --mode openai: +49.6 → +42.8 µs CPU a call; the caller's thread 29 → 24).
        context = _current_context() if parent_context is None else parent_context
        current = context.get(_SPAN_KEY)
        if type(current) is LightSpan:
            self._trace_id, self._state, self._up = current._trace_id, current._state, current
        else:
            parent = (
                None
                if current is None
                else (
                    current if isinstance(current, trace_api.Span) else INVALID_SPAN
                ).get_span_context()
            )
            if parent is not None and parent.is_valid:
                self._trace_id, self._state, self._up = parent.trace_id, parent.trace_state, parent
            else:  # a root span: a new trace
                self._trace_id = random.getrandbits(128) or 1
                self._state, self._up = DEFAULT_TRACE_STATE, None
        # Ids as plain ints; the ``SpanContext`` is built only when asked for (most spans are
        # only read by ``record``). With the scopes ``trace`` reuses, 114k → 98k instructions
        # a traced call (bench/sdk_overhead.py --mode openai: +55.1 → +49.2 µs CPU a call).
        self._span_id = random.getrandbits(64) or 1
        self._context = None
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self._started = len(attributes)
        # Shared empty tuples until the first event or link: most spans have neither.
        self.events = ()
        self.links = ()
        self.status = _UNSET
        self.resource = resource
        self.instrumentation_scope = scope
        self._sink = sink
        self._reader = None
        self.start_time = time_ns()
        self.end_time = None

    @property
    def context(self) -> SpanContext:
        """This span's ``SpanContext`` (valid ids, as ``SpanContext`` would find them)."""
        context = self._context
        if context is None:
            context = self._context = _new_tuple(
                SpanContext, (self._trace_id, self._span_id, False, _SAMPLED, self._state, True)
            )
        return context

    @property
    def parent(self) -> SpanContext | None:
        """The parent's ``SpanContext``, None for a root span."""
        up = self._up
        return up.context if isinstance(up, LightSpan) else up

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
            self._sink(self.record() if _record.enabled else self)
        except Exception:
            log.warning("margin: could not queue a span", exc_info=True)

    def record(self) -> tuple[Any, ...] | LightSpan:
        """What is queued for this ended span: its ``_record`` tuple, which the garbage
        collector untracks (bench/sdk_overhead.py --mode warm: 39 against 53 µs CPU a call;
        --mode openai: 3 young collections per 6,000 calls against 55), or the span itself
        when it has events or links (rare) or a reading left to do."""
        if self.events or self.links or self._reader is not None:
            return self
        up, attributes = self._up, self.attributes
        if up is None:
            parent_id, remote = 0, False
        elif isinstance(up, LightSpan):
            parent_id, remote = up._span_id, False
        else:
            parent_id, remote = up.span_id, up.is_remote
        return (
            _record.origin(self.resource, self.instrumentation_scope),
            self.name,
            self._trace_id >> 64,
            self._trace_id & _record.LOW64,
            self._span_id,
            parent_id,
            remote,
            "" if (state := self._state) is DEFAULT_TRACE_STATE else state or "",
            self.kind._value_,
            self.start_time,
            self.end_time,
            tuple(attributes),
            tuple(attributes.values()),
            0 if self.status is _UNSET else self.status,
            _record.keeps_prompt(attributes),
            self._started,
        )

    def end_with(self, attributes: Mapping[str, Any]) -> None:
        """Add ``attributes`` (clean values: see ``is_clean``) and end the span."""
        if self.end_time is None:
            self.attributes.update(attributes)
            self.end()

    def end_deferred(self, reader: Callable[[], None]) -> None:
        """End the span now, leaving ``reader`` (which adds the attributes read from a call's
        result) to whoever exports it: see ``read_result``."""
        if self.end_time is not None:
            return
        self._reader = reader
        self.end_time = time_ns()
        try:
            self._sink(self)
        except Exception:
            log.warning("margin: could not queue a span", exc_info=True)

    def read_result(self) -> None:
        """Run the reading ``end_deferred`` left, once; exporters call it before encoding."""
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader()
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


def is_clean(value: Any) -> bool:
    """Whether OpenTelemetry stores ``value`` as it is: a plain scalar, or a tuple of str
    (finish reasons); anything else goes through its validation."""
    kind = type(value)
    return kind in _PLAIN or (kind is tuple and all(type(v) is str for v in value))


def clean_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` itself when every value is stored as it is (the common case), else a
    copy with each value validated as OpenTelemetry does (invalid ones left out)."""
    if all(is_clean(value) for value in attributes.values()):
        return attributes
    out = {}
    for key, value in attributes.items():
        if not is_clean(value):
            value = _cleaned(key, value)
        if value is not None:
            out[key] = value
    return out
