"""``SpanRecorder``: what a wrapper records about one provider call, written onto its span.

Attributes set through the recorder are collected and written to the span in one go just
before it ends (or fails), instead of one locked, re-validated write each."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from margin import semconv
from margin.sdk._context import current_scope
from margin.sdk._lightspan import LightSpan, clean_attributes
from margin.sdk.wrappers._guard import report
from margin.usage import Usage, usage_attributes

__all__ = ["SpanRecorder", "read_later", "want_content"]


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
    """One GenAI span: set usage and response details, then end it exactly once."""

    __slots__ = ("_pending", "content", "ended", "recording", "request_model", "span")

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
            pending[semconv.RESPONSE_ID] = response_id
        if isinstance(model, str) and model:
            pending[semconv.RESPONSE_MODEL] = model
        if finish:
            items = finish if isinstance(finish, list | tuple) else [finish]
            pending[semconv.FINISH_REASONS] = tuple([str(r) for r in items])

    def record(self, attributes: dict[str, Any]) -> None:
        """Record attributes read from a response (no None values)."""
        self._pending.update(attributes)

    def usage(self, usage: Usage) -> None:
        """Record the call's canonical usage (its non-zero counts)."""
        self._pending.update(usage_attributes(usage))

    def input_messages(self, messages: Any, system: Any = None) -> None:
        """Record the prompt (opt-in via ``store_prompt``)."""
        if messages is not None and self.content:
            self._pending[semconv.INPUT_MESSAGES] = _json(messages)
            if system is not None:
                self._pending[semconv.SYSTEM_INSTRUCTIONS] = _json(system)

    def output_messages(self, messages: Any) -> None:
        """Record the completion (opt-in via ``store_prompt``)."""
        if messages is not None and self.content:
            self._pending[semconv.OUTPUT_MESSAGES] = _json(messages)

    def _flush(self) -> None:
        pending = self._pending
        if pending:
            self._pending = {}
            _write(self.span, pending)

    def fail(self, exc: BaseException) -> None:
        """Mark the span as failed and end it; the caller re-raises the exception."""
        try:
            if not self.ended:
                self._pending[semconv.ERROR_TYPE] = type(exc).__qualname__
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
        try:
            self._flush()  # what the request set (``begin``): written before the span ends
        except Exception:
            report("span.set")
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


def _write(span: Span, attributes: dict[str, Any]) -> None:
    if type(span) is LightSpan and span.end_time is None:
        span.attributes.update(clean_attributes(attributes))
    else:
        span.set_attributes(attributes)
