"""Shared span bookkeeping for every provider wrapper.

Wrappers build one CLIENT span per provider call through the global tracer provider, shaped by
the OpenTelemetry GenAI conventions (``gen_ai.*``). Everything here is defensive: a failure in
Margin's own bookkeeping is logged once and swallowed, because tracing must never break the
caller's program.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from margin.sdk import runtime as _runtime_state
from margin.sdk._context import TraceScope, current_scope, scope_var
from margin.sdk._lightspan import LightSpan, clean_attributes, start_light_span
from margin.sdk.processor import attributes_for

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from margin.sdk.runtime import Runtime

__all__ = [
    "SpanRecorder",
    "Usage",
    "dig",
    "direct_span",
    "fields",
    "guard",
    "read_later",
    "report",
    "start_span",
    "to_int",
    "want_content",
]

logger = logging.getLogger("margin.sdk.wrappers")
TRACER_NAME = "margin"

# Lets the server tell our span from a native or third-party instrumentor span of the same call.
ATTR_INSTRUMENTATION = "margin.instrumentation"

_logged: set[str] = set()


def report(what: str) -> None:
    """Log (once per ``what``) the exception being handled; call it from an ``except`` block.

    Hot paths use ``try``/``except Exception: report(...)`` instead of :func:`guard`: same
    behaviour, without a generator and a formatted label on every call."""
    if what not in _logged:
        _logged.add(what)
        logger.warning("margin: tracing failed in %s; the call is unaffected", what, exc_info=True)


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Swallow (and log once per ``what``) any error raised by Margin's bookkeeping."""
    try:
        yield
    except Exception:
        report(what)


# How values of a type are read: from a mapping, from a pydantic model's field dict, or by
# attribute. An ABC ``isinstance`` per step, and a pydantic ``__getattr__`` raising for a missing
# name, are the slow parts of reading a provider response.
_MAPPING, _MODEL, _OBJECT = 0, 1, 2
_kinds: dict[type, int] = {dict: _MAPPING}
_class_attrs: dict[tuple[type, str], bool] = {}


def _kind(kind: type) -> int:
    found = _kinds.get(kind)
    if found is None:
        if issubclass(kind, Mapping):
            found = _MAPPING
        elif isinstance(getattr(kind, "__pydantic_fields__", None), dict):
            found = _MODEL
        else:
            found = _OBJECT
        if len(_kinds) < 1024:
            _kinds[kind] = found
    return found


def _model_get(obj: Any, name: str) -> Any:
    # A pydantic model keeps its fields in ``__dict__`` and unknown fields in
    # ``__pydantic_extra__``; anything else is a class attribute (a property) or absent.
    values = obj.__dict__
    if name in values:
        return values[name]
    extra = getattr(obj, "__pydantic_extra__", None)
    if extra and name in extra:
        return extra[name]
    key = (type(obj), name)
    has = _class_attrs.get(key)
    if has is None:
        has = hasattr(type(obj), name)
        if len(_class_attrs) < 4096:
            _class_attrs[key] = has
    return getattr(obj, name, None) if has else None


def dig(obj: Any, *path: str) -> Any:
    """Follow attribute or mapping keys along ``path``; None as soon as one is missing."""
    for name in path:
        if obj is None:
            return None
        kind = _kind(type(obj))
        if kind == _MAPPING:
            obj = obj.get(name)
        elif kind == _MODEL:
            obj = _model_get(obj, name)
        else:
            obj = getattr(obj, name, None)
    return obj


def fields(obj: Any, *names: str) -> list[Any]:
    """``[dig(obj, name) for name in names]``, telling mapping from object only once."""
    if obj is None:
        return [None] * len(names)
    kind = _kind(type(obj))
    if kind == _MAPPING:
        get = obj.get
        return [get(name) for name in names]
    if kind == _MODEL:
        return [_model_get(obj, name) for name in names]
    return [getattr(obj, name, None) for name in names]


def to_int(value: Any) -> int | None:
    """An int token count, or None for missing/non-numeric values (bools are not counts)."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


@dataclass(slots=True)
class Usage:
    """Canonical usage of one call: input is inclusive of cache, output of reasoning."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    #: Non-token units, keyed by the suffix of ``margin.usage.<unit>`` (images, audio_seconds…).
    units: dict[str, float | int] = field(default_factory=dict)

    def attributes(self) -> dict[str, int | float]:
        """The span attributes for the counts that are known."""
        attrs: dict[str, int | float] = {}
        if self.input_tokens is not None:
            attrs["gen_ai.usage.input_tokens"] = self.input_tokens
        if self.output_tokens is not None:
            attrs["gen_ai.usage.output_tokens"] = self.output_tokens
        if self.cache_read is not None:
            attrs["gen_ai.usage.cache_read.input_tokens"] = self.cache_read
        if self.cache_write is not None:
            attrs["gen_ai.usage.cache_write.input_tokens"] = self.cache_write
        if self.reasoning is not None:
            attrs["gen_ai.usage.reasoning.output_tokens"] = self.reasoning
        for unit, n in self.units.items():
            attrs[f"margin.usage.{unit}"] = n
        return attrs


def want_content() -> bool:
    """Prompts are recorded only inside a ``margin.trace`` that asked for them."""
    scope = current_scope()
    return scope is not None and scope.store_prompt


def _json(value: Any) -> str:
    return json.dumps(value, default=_jsonable, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    for method in ("model_dump", "to_dict", "dict"):
        fn = getattr(value, method, None)
        if callable(fn):
            try:
                return fn()
            except Exception:  # not every .dict() is pydantic's; fall through to str
                continue
    return str(value)


class SpanRecorder:
    """One GenAI span: set usage and response details, then end it exactly once.

    Attributes set through the recorder are collected and written to the span in one go just
    before it ends (or fails), instead of one locked, re-validated write each."""

    __slots__ = (
        "_pending",
        "content",
        "ended",
        "recording",
        "request_model",
        "span",
    )

    def __init__(
        self,
        span: Span,
        model: str | None,
        recording: bool = True,
        content: bool | None = None,
    ) -> None:
        self.span = span
        self.request_model = model
        #: False when nothing would record this call (Margin records directly, outside any
        #: ``margin.trace``): wrappers then call the provider untouched.
        self.recording = recording
        #: Whether prompts and completions are recorded (the ``margin.trace`` asked for them),
        #: decided when the call starts: a deferred reading runs on another thread.
        self.content = want_content() if content is None else content
        self.ended = False
        self._pending: dict[str, Any] = {}

    def set(self, name: str, value: Any) -> None:
        """Set one attribute, ignoring None."""
        if value is not None:
            self._pending[name] = value

    def response(self, response_id: Any = None, model: Any = None, finish: Any = None) -> None:
        """Record the response id, model and finish reasons when known."""
        pending = self._pending
        if isinstance(response_id, str) and response_id:
            pending["gen_ai.response.id"] = response_id
        if isinstance(model, str) and model:
            pending["gen_ai.response.model"] = model
        if finish:
            items = finish if isinstance(finish, list | tuple) else [finish]
            pending["gen_ai.response.finish_reasons"] = tuple([str(r) for r in items])

    def usage(self, usage: Usage | None) -> None:
        """Record token and unit counts."""
        if usage is not None:
            self._pending.update(usage.attributes())

    def input_messages(self, messages: Any, system: Any = None) -> None:
        """Record the prompt (opt-in via ``store_prompt``)."""
        if messages is not None and self.content:
            self._pending["gen_ai.input.messages"] = _json(messages)
            if system is not None:
                self._pending["gen_ai.system_instructions"] = _json(system)

    def output_messages(self, messages: Any) -> None:
        """Record the completion (opt-in via ``store_prompt``)."""
        if messages is not None and self.content:
            self._pending["gen_ai.output.messages"] = _json(messages)

    def _flush(self) -> None:
        pending = self._pending
        if pending:
            self._pending = {}
            _write(self.span, pending)

    def fail(self, exc: BaseException) -> None:
        """Mark the span as failed and end it; the caller re-raises the exception."""
        try:
            if not self.ended:
                self._pending["error.type"] = type(exc).__qualname__
                self._flush()
                self.span.record_exception(exc)
                self.span.set_status(Status(StatusCode.ERROR, str(exc)[:500] or None))
        except Exception:
            report("span.fail")
        self.end()

    def end(self) -> None:
        """End the span once; later calls are no-ops."""
        if self.ended:
            return
        self.ended = True
        try:
            if self._pending:
                self._flush()
        except Exception:
            report("span.set")
        try:
            self.span.end()
        except Exception:
            report("span.end")

    def end_reading_later(
        self, read: Callable[[SpanRecorder, Any, Any], None], result: Any, state: Any
    ) -> bool:
        """End the span now and ``read(self, result, state)`` when the span is exported, on
        the delivery thread, instead of on the caller's; False (nothing done) when the span
        is not one Margin exports itself. The result object is read as it is then."""
        span = self.span
        if self.ended or type(span) is not LightSpan:
            return False
        self.ended = True
        if self._pending:  # what the request set (begin): written before the span ends
            try:
                _write(span, self._pending)
            except Exception:
                report("span.set")
            self._pending = {}
        span.end_deferred(partial(_read_result, self, read, result, state))
        return True


def _read_result(
    rec: SpanRecorder, read: Callable[[SpanRecorder, Any, Any], None], result: Any, state: Any
) -> None:
    # A deferred reading, on the delivery thread: what ``read`` records joins the span.
    try:
        read(rec, result, state)
    except Exception:
        report("response (deferred)")
    pending = rec._pending
    if pending:
        rec._pending = {}
        span: Any = rec.span
        span.attributes.update(clean_attributes(pending))


def read_later(
    span: Span,
    model: str | None,
    read: Callable[[SpanRecorder, Any, Any], None],
    result: Any,
    state: Any,
) -> None:
    """``SpanRecorder.end_reading_later``'s reading for a ``LightSpan`` ended without a
    recorder (nothing was recorded during the call; pass it, bound, to ``end_deferred``): the
    recorder is made here, on the delivery thread, and never on the caller's."""
    _read_result(SpanRecorder(span, model, True, False), read, result, state)


# Types OpenTelemetry stores as they are; anything else goes through its validation.
_PLAIN = frozenset({str, bool, int, float})


def _all_clean(values: Iterable[Any]) -> bool:
    for value in values:
        kind = type(value)
        if kind not in _PLAIN and not (kind is tuple and all(type(v) is str for v in value)):
            return False
    return True


def _write(span: Span, attributes: dict[str, Any]) -> None:
    # ``set_attributes`` re-validates every value under a lock; values that are already in the
    # form OpenTelemetry stores (plain scalars, tuples of str) are merged into the SDK's
    # attribute container directly when it is the one we know and nothing limits them.
    if type(span) is LightSpan:
        if span.end_time is None and _all_clean(attributes.values()):
            span.attributes.update(attributes)
        else:
            span.set_attributes(attributes)
        return
    bounded = getattr(span, "_attributes", None)
    if (
        type(bounded) is BoundedAttributes
        and not bounded._immutable
        and bounded.max_value_len is None
        and getattr(span, "_end_time", 0) is None
        and (bounded.maxlen is None or len(bounded._dict) + len(attributes) <= bounded.maxlen)
        and _all_clean(attributes.values())
    ):
        with bounded._lock:
            bounded._dict.update(attributes)
        return
    span.set_attributes(attributes)


# ``trace.get_tracer`` builds two scope objects and takes a lock on every call; the tracer is
# cached per global provider, so a provider set (or swapped) later is still picked up.
_tracer_cache: tuple[object, trace.Tracer] | None = None


def _tracer() -> trace.Tracer:
    global _tracer_cache
    provider = trace.get_tracer_provider()
    cached = _tracer_cache
    if cached is not None and cached[0] is provider:
        return cached[1]
    tracer = provider.get_tracer(TRACER_NAME)
    _tracer_cache = (provider, tracer)
    return tracer


# Static attributes and names of wrapper spans, by (operation, provider, model, stream).
_static: dict[tuple[str, str, str | None, bool], tuple[str, dict[str, Any]]] = {}


def _static_part(
    operation: str, provider: str, model: str | None, stream: bool
) -> tuple[str, dict[str, Any]]:
    key = (operation, provider, model, stream)
    found = _static.get(key)
    if found is None:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            ATTR_INSTRUMENTATION: "margin",
        }
        if model:
            attrs["gen_ai.request.model"] = model
        if stream:
            attrs["gen_ai.request.stream"] = True
        found = (f"{operation} {model}" if model else operation, clean_attributes(attrs))
        if len(_static) >= 1024:
            _static.clear()
        _static[key] = found
    return found


def start_span(
    operation: str,
    provider: str,
    model: str | None,
    *,
    stream: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> SpanRecorder:
    """Start a CLIENT span named ``"{operation} {model}"`` on the global tracer provider (or,
    when Margin records directly, as a ``LightSpan``)."""
    runtime = _runtime_state._runtime  # ``current_runtime()``, without a call: every call
    if runtime is not None and runtime.records_directly():
        scope = scope_var.get()
        if scope is None:  # nothing outside a margin.trace is exported: record nothing
            return SpanRecorder(trace.INVALID_SPAN, model, recording=False, content=False)
        span = direct_span(runtime, scope, operation, provider, model, stream, None, attributes)
        return SpanRecorder(span, model, True, scope.store_prompt)
    name, static = _static_part(operation, provider, str(model) if model else None, stream)
    given = {k: v for k, v in attributes.items() if v is not None} if attributes else None
    attrs = {**static, **given} if given else dict(static)
    if runtime is not None:
        return SpanRecorder(runtime.start_span(name, attrs, kind=SpanKind.CLIENT), model)
    return SpanRecorder(_tracer().start_span(name, kind=SpanKind.CLIENT, attributes=attrs), model)


def direct_span(
    runtime: Runtime,
    scope: TraceScope,
    operation: str,
    provider: str,
    model: str | None,
    stream: bool,
    context: Context | None,
    attributes: Mapping[str, Any] | None = None,
) -> LightSpan:
    """``start_span``'s span when Margin records directly (``runtime.records_directly()``)
    inside ``scope``: a ``LightSpan``, child of the span in ``context`` (None: the current
    one). A wrapped call gives it a recorder only when it needs one (see ``read_later``)."""
    label = model if type(model) is str else (str(model) if model else None)
    if attributes:
        name, static = _static_part(operation, provider, label, stream)
        extra = clean_attributes({k: v for k, v in attributes.items() if v is not None})
        own = {**static, **extra, **attributes_for(scope)}
    else:
        memo = scope.__dict__.get("_margin_spans")  # ``_scope_part``'s memo, read inline
        found = None if memo is None else memo.get((operation, provider, label, stream))
        name, shared = found or _scope_part(scope, operation, provider, label, stream)
        own = dict(shared)
    return start_light_span(
        name, own, SpanKind.CLIENT, context, runtime._resource, runtime.scope, runtime._sink
    )


def _scope_part(
    scope: TraceScope, operation: str, provider: str, model: str | None, stream: bool
) -> tuple[str, dict[str, Any]]:
    """The name and attributes (static ones and the scope's) of a wrapper span in ``scope``,
    built once per scope object: do not mutate them."""
    memo: dict[Any, tuple[str, dict[str, Any]]] | None = scope.__dict__.get("_margin_spans")
    if memo is None:
        memo = {}
        object.__setattr__(scope, "_margin_spans", memo)
    key = (operation, provider, model, stream)
    found = memo.get(key)
    if found is None:
        name, static = _static_part(operation, provider, model, stream)
        found = (name, {**static, **attributes_for(scope)})
        if len(memo) < 256:
            memo[key] = found
    return found
