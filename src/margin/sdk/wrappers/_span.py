"""Shared span bookkeeping for every provider wrapper.

Wrappers build one CLIENT span per provider call through the global tracer provider, shaped by
the OpenTelemetry GenAI conventions (``gen_ai.*``). Everything here is defensive: a failure in
Margin's own bookkeeping is logged once and swallowed, because tracing must never break the
caller's program.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from margin.sdk._context import current_scope

__all__ = ["SpanRecorder", "Usage", "dig", "guard", "start_span", "to_int", "want_content"]

logger = logging.getLogger("margin.sdk.wrappers")
TRACER_NAME = "margin"

# Lets the server tell our span from a native or third-party instrumentor span of the same call.
ATTR_INSTRUMENTATION = "margin.instrumentation"

_logged: set[str] = set()


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Swallow (and log once per ``what``) any error raised by Margin's bookkeeping."""
    try:
        yield
    except Exception:
        if what not in _logged:
            _logged.add(what)
            logger.warning(
                "margin: tracing failed in %s; the call is unaffected", what, exc_info=True
            )


def dig(obj: Any, *path: str) -> Any:
    """Follow attribute or mapping keys along ``path``; None as soon as one is missing."""
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return obj


def to_int(value: Any) -> int | None:
    """An int token count, or None for missing/non-numeric values (bools are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


@dataclass
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
        pairs = {
            "gen_ai.usage.input_tokens": self.input_tokens,
            "gen_ai.usage.output_tokens": self.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": self.cache_read,
            "gen_ai.usage.cache_write.input_tokens": self.cache_write,
            "gen_ai.usage.reasoning.output_tokens": self.reasoning,
        }
        attrs: dict[str, int | float] = {k: v for k, v in pairs.items() if v is not None}
        attrs.update({f"margin.usage.{unit}": n for unit, n in self.units.items()})
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
    """One GenAI span: set usage and response details, then end it exactly once."""

    def __init__(self, span: Span, model: str | None) -> None:
        self.span = span
        self.request_model = model
        self.ended = False

    def set(self, name: str, value: Any) -> None:
        """Set one attribute, ignoring None."""
        if value is not None:
            self.span.set_attribute(name, value)

    def response(self, response_id: Any = None, model: Any = None, finish: Any = None) -> None:
        """Record the response id, model and finish reasons when known."""
        if isinstance(response_id, str) and response_id:
            self.span.set_attribute("gen_ai.response.id", response_id)
        if isinstance(model, str) and model:
            self.span.set_attribute("gen_ai.response.model", model)
        if finish:
            reasons = [str(r) for r in (finish if isinstance(finish, list | tuple) else [finish])]
            self.span.set_attribute("gen_ai.response.finish_reasons", reasons)

    def usage(self, usage: Usage | None) -> None:
        """Record token and unit counts."""
        if usage is not None:
            self.span.set_attributes(usage.attributes())

    def input_messages(self, messages: Any, system: Any = None) -> None:
        """Record the prompt (opt-in via ``store_prompt``)."""
        if messages is not None and want_content():
            self.span.set_attribute("gen_ai.input.messages", _json(messages))
            if system is not None:
                self.span.set_attribute("gen_ai.system_instructions", _json(system))

    def output_messages(self, messages: Any) -> None:
        """Record the completion (opt-in via ``store_prompt``)."""
        if messages is not None and want_content():
            self.span.set_attribute("gen_ai.output.messages", _json(messages))

    def fail(self, exc: BaseException) -> None:
        """Mark the span as failed and end it; the caller re-raises the exception."""
        with guard("span.fail"):
            if not self.ended:
                self.span.set_attribute("error.type", type(exc).__qualname__)
                self.span.record_exception(exc)
                self.span.set_status(Status(StatusCode.ERROR, str(exc)[:500] or None))
        self.end()

    def end(self) -> None:
        """End the span once; later calls are no-ops."""
        with guard("span.end"):
            if not self.ended:
                self.ended = True
                self.span.end()


def start_span(
    operation: str,
    provider: str,
    model: str | None,
    *,
    stream: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> SpanRecorder:
    """Start a CLIENT span named ``"{operation} {model}"`` on the global tracer provider."""
    tracer = trace.get_tracer(TRACER_NAME)
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        ATTR_INSTRUMENTATION: "margin",
    }
    if model:
        attrs["gen_ai.request.model"] = model
    if stream:
        attrs["gen_ai.request.stream"] = True
    for key, value in (attributes or {}).items():
        if value is not None:
            attrs[key] = value
    name = f"{operation} {model}" if model else operation
    return SpanRecorder(tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs), model)
