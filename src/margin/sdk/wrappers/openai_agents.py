"""OpenAI Agents SDK: a ``TracingProcessor`` that turns model calls into GenAI spans.

The Agents SDK traces each model call as a ``response`` span (Responses API) or a
``generation`` span (Chat Completions and other models); their usage becomes one CLIENT span
per call. The span starts when the Agents span starts, in the caller's context, so it nests
under ``margin.trace``.
"""

from __future__ import annotations

from typing import Any

from margin._fields import dig
from margin.sdk.wrappers._guard import guard
from margin.sdk.wrappers._patch import Instrumentation, require
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers._span import start_span
from margin.usage import openai_usage

try:
    from agents.tracing import TracingProcessor
except ImportError as exc:  # the processor must subclass the SDK's, so import eagerly
    raise ImportError(
        "openai-agents is not installed; install it with: pip install 'margin[openai-agents]'"
    ) from exc

__all__ = ["MarginTracingProcessor", "instrument_openai_agents"]

_MODEL_SPANS = ("response", "generation")


class MarginTracingProcessor(TracingProcessor):
    """Records a GenAI span for every Agents SDK model call."""

    def __init__(self) -> None:
        self._spans: dict[str, SpanRecorder] = {}
        self.enabled = True

    def on_trace_start(self, trace: Any) -> None:
        """Agents traces are not model calls; nothing to record."""

    def on_trace_end(self, trace: Any) -> None:
        """Agents traces are not model calls; nothing to record."""

    def on_span_start(self, span: Any) -> None:
        """Start a GenAI span for a model-call span."""
        if not self.enabled or dig(span, "span_data", "type") not in _MODEL_SPANS:
            return
        with guard("openai-agents span start"):
            model = dig(span, "span_data", "model")
            rec = start_span(
                "chat",
                "openai",
                model if isinstance(model, str) else None,
                attributes={"margin.framework": "openai_agents"},
            )
            self._spans[str(span.span_id)] = rec

    def on_span_end(self, span: Any) -> None:
        """Record usage and end the GenAI span."""
        rec = self._spans.pop(str(dig(span, "span_id")), None)
        if rec is None:
            return
        with guard("openai-agents span end"):
            data = span.span_data
            response = dig(data, "response")
            model = dig(data, "model") or dig(response, "model")
            if rec.request_model is None and isinstance(model, str):
                rec.set("gen_ai.request.model", model)
                rec.span.update_name(f"chat {model}")
            rec.response(dig(response, "id"), dig(response, "model"))
            usage = dig(response, "usage") or dig(data, "usage")
            rec.usage(openai_usage(usage))
            error = dig(span, "error")
            if error:
                rec.fail(RuntimeError(str(dig(error, "message") or error)))
        rec.end()

    def shutdown(self) -> None:
        """End any span still open (the process is exiting)."""
        for rec in list(self._spans.values()):
            rec.end()
        self._spans.clear()

    def force_flush(self) -> None:
        """Spans go to the global OTel provider, which flushes itself."""


_active: MarginTracingProcessor | None = None


def instrument_openai_agents(client: Any = None) -> Instrumentation:
    """Trace every Agents SDK model call (``client`` is accepted for symmetry and ignored:
    the Agents SDK has one global trace provider)."""
    global _active
    agents = require("agents", "openai-agents")
    handle = Instrumentation("openai_agents")
    if _active is not None:
        return handle
    processor = _active = MarginTracingProcessor()
    agents.add_trace_processor(processor)

    def undo() -> None:
        global _active
        processor.enabled = False
        _active = None
        # The SDK has no public "remove"; drop ours if the provider shape is the known one.
        provider = require("agents.tracing", "openai-agents").get_trace_provider()
        multi = getattr(provider, "_multi_processor", None)
        if multi is not None and hasattr(multi, "_processors"):
            multi.set_processors([p for p in multi._processors if p is not processor])

    handle.add_undo(undo)
    return handle
