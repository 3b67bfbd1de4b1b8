"""LangChain: a callback handler that turns each chat-model / LLM run into a GenAI span.

``instrument_langchain(model)`` adds the handler to one model (or any runnable with a
``callbacks`` list); ``instrument_langchain()`` registers it for every run through LangChain's
configure hook. Usage comes from the message's ``usage_metadata`` (inclusive of cache and
reasoning, as LangChain normalises it), else ``llm_output['token_usage']``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any
from uuid import UUID

from margin._fields import dig
from margin.sdk.wrappers._guard import guard
from margin.sdk.wrappers._patch import Instrumentation
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers._span import start_span
from margin.usage import Usage, langchain_usage, openai_usage

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.outputs import LLMResult
except ImportError as exc:  # the handler must subclass LangChain's, so import eagerly
    raise ImportError(
        "langchain_core is not installed; install it with: pip install 'margin[langchain]'"
    ) from exc

__all__ = ["MarginCallbackHandler", "instrument_langchain", "result_usage"]

# LangChain's ``ls_provider`` → GenAI ``gen_ai.provider.name``.
_PROVIDERS = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "google_genai": "gcp.gemini",
    "google_vertexai": "gcp.vertex_ai",
    "amazon_bedrock": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "mistralai": "mistral_ai",
}


def result_usage(result: LLMResult) -> Usage:
    """A run's usage: its generations' ``usage_metadata`` summed, else the provider's
    (OpenAI-shaped) ``llm_output['token_usage']``."""
    metas = [
        meta
        for batch in result.generations
        for gen in batch
        if (meta := dig(gen, "message", "usage_metadata"))
    ]
    if not metas:
        return openai_usage(dig(result.llm_output, "token_usage"))
    total = Usage()
    for meta in metas:
        total = total.plus(langchain_usage(meta))
    return total


def _response_ids(result: LLMResult) -> tuple[Any, Any]:
    for batch in result.generations:
        for gen in batch:
            meta = dig(gen, "message", "response_metadata") or dig(gen, "generation_info") or {}
            model = dig(meta, "model_name") or dig(meta, "model")
            # LangChain invents ``run-…``/``lc_run…`` ids; only a provider id helps dedupe.
            rid = dig(meta, "id") or dig(gen, "message", "id")
            if isinstance(rid, str) and rid.startswith(("run-", "lc_")):
                rid = None
            return rid, model
    return None, dig(result.llm_output, "model_name")


class MarginCallbackHandler(BaseCallbackHandler):
    """Records one GenAI span per LangChain chat-model or LLM run."""

    run_inline = True  # keep callbacks in the caller's context, so spans nest correctly

    def __init__(self) -> None:
        self._runs: dict[UUID, SpanRecorder] = {}
        self.enabled = True

    def _start(
        self, run_id: UUID, prompt: Any, metadata: dict[str, Any] | None, kwargs: dict[str, Any]
    ) -> None:
        if not self.enabled:
            return
        with guard("langchain start"):
            params = kwargs.get("invocation_params") or {}
            meta = metadata or {}
            model = meta.get("ls_model_name") or params.get("model") or params.get("model_name")
            raw_provider = meta.get("ls_provider") or params.get("_type") or "langchain"
            provider = _PROVIDERS.get(str(raw_provider), str(raw_provider))
            operation = "chat" if meta.get("ls_model_type", "chat") == "chat" else "text_completion"
            rec = start_span(
                operation,
                provider,
                model if isinstance(model, str) else None,
                stream=bool(params.get("stream")),
                attributes={"margin.framework": "langchain"},
            )
            self._runs[run_id] = rec
            rec.input_messages(prompt)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start the span of a chat-model run."""
        prompt = [
            [{"role": dig(m, "type"), "content": dig(m, "content")} for m in batch]
            for batch in messages
        ]
        self._start(run_id, prompt[0] if len(prompt) == 1 else prompt, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start the span of a (non-chat) LLM run."""
        self._start(run_id, prompts, metadata, kwargs)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record usage and end the span."""
        rec = self._runs.pop(run_id, None)
        if rec is None:
            return
        with guard("langchain end"):
            rid, model = _response_ids(response)
            rec.response(rid, model)
            rec.usage(result_usage(response))
            texts = [gen.text for batch in response.generations for gen in batch]
            rec.output_messages(
                [{"role": "assistant", "parts": [{"type": "text", "content": t}]} for t in texts]
            )
        rec.end()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Mark the span as failed."""
        rec = self._runs.pop(run_id, None)
        if rec is not None:
            rec.fail(error)


_global: MarginCallbackHandler | None = None


def instrument_langchain(client: Any = None) -> Instrumentation:
    """Trace LangChain model runs: those of one model/runnable, or every run when None."""
    global _global
    handle = Instrumentation("langchain")
    if client is not None:
        callbacks = client.callbacks
        if callbacks is None:
            callbacks = client.callbacks = []
        if isinstance(callbacks, list) and not any(
            isinstance(h, MarginCallbackHandler) for h in callbacks
        ):
            handler = MarginCallbackHandler()
            callbacks.append(handler)
            handle.add_undo(lambda: callbacks.remove(handler) if handler in callbacks else None)
        return handle
    if _global is not None:
        return handle
    from langchain_core.tracers import context as lc_context

    handler = _global = MarginCallbackHandler()
    # A ContextVar whose *default* is the handler is seen by every thread and task.
    var: ContextVar[Any] = ContextVar("margin_langchain_handler", default=handler)
    lc_context.register_configure_hook(var, True)

    def undo() -> None:
        global _global
        handler.enabled = False
        _global = None
        hooks = getattr(lc_context, "_configure_hooks", [])
        hooks[:] = [h for h in hooks if h[0] is not var]

    handle.add_undo(undo)
    return handle
