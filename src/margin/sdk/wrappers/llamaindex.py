"""LlamaIndex: handlers on the root instrumentation dispatcher.

An event handler opens a GenAI span on ``LLMChatStartEvent`` / ``LLMCompletionStartEvent``
and closes it on the matching end event, reading usage from the provider's raw response
(OpenAI- or Anthropic-shaped) or the token counts LlamaIndex puts in ``additional_kwargs``.
A span handler marks the span as failed when the LLM call raises.
"""

from __future__ import annotations

from typing import Any

from margin._fields import dig
from margin.sdk.wrappers._guard import guard
from margin.sdk.wrappers._patch import Instrumentation
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers._span import start_span
from margin.usage import Usage, from_provider, openai_usage

try:
    from llama_index.core.instrumentation import (  # type: ignore[attr-defined]  # re-exported
        get_dispatcher,
    )
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.events import llm as llm_events
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
    from pydantic import PrivateAttr
except ImportError as exc:  # the handlers must subclass LlamaIndex's, so import eagerly
    raise ImportError(
        "llama-index-core is not installed; install it with: pip install 'margin[llamaindex]'"
    ) from exc

__all__ = ["MarginEventHandler", "instrument_llamaindex", "response_usage"]

_PROVIDERS = (
    ("azure", "azure.ai.openai"),
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("vertex", "gcp.vertex_ai"),
    ("bedrock", "aws.bedrock"),
    ("mistral", "mistral_ai"),
)


def _provider(model_dict: Any) -> str:
    name = str(dig(model_dict, "class_name") or "llama_index").lower()
    return next((semconv for key, semconv in _PROVIDERS if key in name), name)


def response_usage(response: Any) -> Usage:
    """A ``ChatResponse`` / ``CompletionResponse``'s usage: the provider's raw usage block
    (its shape tells the provider), else the token counts LlamaIndex puts in
    ``additional_kwargs``."""
    usage = dig(response, "raw", "usage")
    if usage is not None:
        try:
            return from_provider(usage)
        except ValueError:
            pass
    return openai_usage(dig(response, "additional_kwargs"))


class MarginEventHandler(BaseEventHandler):
    """Turns LlamaIndex LLM start/end events into GenAI spans."""

    _spans: dict[str, SpanRecorder] = PrivateAttr(default_factory=dict)
    enabled: bool = True

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's handler registry name."""
        return "MarginEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        """Dispatch one instrumentation event."""
        with guard("llamaindex event"):
            if isinstance(event, llm_events.LLMChatStartEvent | llm_events.LLMCompletionStartEvent):
                if self.enabled:
                    self._start(event)
            elif isinstance(event, llm_events.LLMChatEndEvent | llm_events.LLMCompletionEndEvent):
                self._end(event)

    def _start(self, event: Any) -> None:
        model = dig(event.model_dict, "model") or dig(event.model_dict, "model_name")
        chat = isinstance(event, llm_events.LLMChatStartEvent)
        rec = start_span(
            "chat" if chat else "text_completion",
            _provider(event.model_dict),
            model if isinstance(model, str) else None,
            attributes={"margin.framework": "llama_index"},
        )
        prompt = (
            [
                {
                    "role": str(dig(m, "role", "value") or dig(m, "role")),
                    "content": dig(m, "content"),
                }
                for m in event.messages
            ]
            if chat
            else event.prompt
        )
        rec.input_messages(prompt)
        self._spans[str(event.span_id)] = rec

    def _end(self, event: Any) -> None:
        rec = self._spans.pop(str(event.span_id), None)
        if rec is None:
            return
        with guard("llamaindex end"):
            raw = dig(event.response, "raw")
            rec.response(dig(raw, "id"), dig(raw, "model"))
            rec.usage(response_usage(event.response))
            text = dig(event.response, "message", "content") or dig(event.response, "text")
            rec.output_messages(
                [{"role": "assistant", "parts": [{"type": "text", "content": text}]}]
            )
        rec.end()

    def fail(self, span_id: str, err: BaseException | None) -> None:
        """Mark a still-open span as failed (its LLM call raised)."""
        rec = self._spans.pop(span_id, None)
        if rec is not None:
            rec.fail(err if err is not None else RuntimeError("LlamaIndex span dropped"))


class _DropHandler(BaseSpanHandler[Any]):
    """Forwards LlamaIndex span drops (exceptions) to the event handler."""

    _events: MarginEventHandler | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "MarginDropHandler"

    def new_span(
        self,
        id_: str,
        bound_args: Any,
        instance: Any = None,
        parent_span_id: str | None = None,
        tags: Any = None,
        **kwargs: Any,
    ) -> None:
        return None

    def prepare_to_exit_span(
        self, id_: str, bound_args: Any, instance: Any = None, result: Any = None, **kwargs: Any
    ) -> None:
        return None

    def prepare_to_drop_span(
        self,
        id_: str,
        bound_args: Any,
        instance: Any = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        with guard("llamaindex drop"):
            if self._events is not None:
                self._events.fail(id_, err)


_active: MarginEventHandler | None = None


def instrument_llamaindex(client: Any = None) -> Instrumentation:
    """Trace every LlamaIndex LLM call via the root dispatcher (``client`` is ignored:
    LlamaIndex instrumentation is process-wide)."""
    global _active
    handle = Instrumentation("llamaindex")
    if _active is not None:
        return handle
    dispatcher = get_dispatcher()
    events = MarginEventHandler()
    drops = _DropHandler()
    drops._events = events
    dispatcher.add_event_handler(events)
    dispatcher.add_span_handler(drops)
    _active = events

    def undo() -> None:
        global _active
        events.enabled = False
        _active = None
        dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not events]
        dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not drops]

    handle.add_undo(undo)
    return handle
