"""LlamaIndex wrapper: dispatcher handlers on a small ``CustomLLM`` returning raw usage."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from opentelemetry.trace import StatusCode
from wrapper_helpers import SpanGetter, fixture_json, one_span

from margin.sdk.instrument import instrument_llamaindex


class FakeOpenAILLM(CustomLLM):
    """Answers with the OpenAI fixture as its raw response, like llama-index-llms-openai."""

    model: str = "gpt-4o"
    broken: bool = False

    @classmethod
    def class_name(cls) -> str:
        return "openai_llm"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model)

    @llm_chat_callback()
    def chat(self, messages: Any, **kwargs: Any) -> ChatResponse:
        if self.broken:
            raise ConnectionError("upstream down")
        raw = fixture_json("openai_chat.json")
        return ChatResponse(message=ChatMessage(role="assistant", content="Paris"), raw=raw)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        anthropic_raw = fixture_json("anthropic_message.json")
        return CompletionResponse(text="Bonjour!", raw=anthropic_raw)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        raise NotImplementedError


def test_chat_and_completion(spans: SpanGetter) -> None:
    llm = FakeOpenAILLM()
    with instrument_llamaindex(), instrument_llamaindex():
        assert llm.chat([ChatMessage(role="user", content="Capital?")]).message.content == "Paris"
        assert llm.complete("Say hi").text == "Bonjour!"
    chat, completion = spans()
    attrs = chat.attributes or {}
    assert chat.name == "chat gpt-4o"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.response.id"] == "chatcmpl-abc123"
    assert attrs["gen_ai.usage.input_tokens"] == 1200
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 150
    assert attrs["gen_ai.usage.output_tokens"] == 300
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 200
    # Anthropic-shaped raw usage: input made inclusive of cache (200 + 1000 + 150).
    attrs = completion.attributes or {}
    assert completion.name == "text_completion gpt-4o"
    assert attrs["gen_ai.usage.input_tokens"] == 1350
    assert attrs["gen_ai.usage.output_tokens"] == 300


def test_reverted(spans: SpanGetter) -> None:
    with instrument_llamaindex():
        pass
    FakeOpenAILLM().chat([ChatMessage(role="user", content="?")])
    assert spans() == []


def test_error(spans: SpanGetter) -> None:
    llm = FakeOpenAILLM(broken=True)
    with instrument_llamaindex(), pytest.raises(ConnectionError, match="upstream down"):
        llm.chat([ChatMessage(role="user", content="?")])
    span = one_span(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ConnectionError"
