"""LangChain wrapper: ``MarginCallbackHandler`` on langchain_core's fake chat model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from opentelemetry.trace import StatusCode
from wrapper_helpers import SpanGetter, one_span

from margin.sdk.instrument import instrument_langchain
from margin.sdk.wrappers.langchain import result_usage


def reply(n: int = 1) -> Any:
    for _ in range(n):
        yield AIMessage(
            content="Bonjour",
            response_metadata={"id": "chatcmpl-lc1", "model_name": "gpt-4o-2024-08-06"},
            usage_metadata={
                "input_tokens": 1200,
                "output_tokens": 300,
                "total_tokens": 1500,
                "input_token_details": {"cache_read": 1000, "cache_creation": 150},
                "output_token_details": {"reasoning": 200},
            },
        )


class Broken(GenericFakeChatModel):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("model exploded")


def assert_usage(attrs: Any) -> None:
    assert attrs["gen_ai.usage.input_tokens"] == 1200
    assert attrs["gen_ai.usage.output_tokens"] == 300
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 150
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 200


def test_model_instance(spans: SpanGetter) -> None:
    model = GenericFakeChatModel(messages=reply())
    with instrument_langchain(model), instrument_langchain(model):
        assert model.invoke("Say hello in French").content == "Bonjour"
    span = one_span(spans)
    attrs = span.attributes or {}
    assert span.name == "chat"
    assert attrs["gen_ai.provider.name"] == "genericfakechatmodel"
    assert attrs["gen_ai.response.id"] == "chatcmpl-lc1"
    assert attrs["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attrs["margin.framework"] == "langchain"
    assert_usage(attrs)
    assert model.callbacks == []


async def test_global_hook_then_revert(spans: SpanGetter) -> None:
    with instrument_langchain(), instrument_langchain():
        await GenericFakeChatModel(messages=reply()).ainvoke("hi")
    GenericFakeChatModel(messages=reply()).invoke("hi")
    assert_usage(one_span(spans).attributes)


def test_error_passes_through(spans: SpanGetter) -> None:
    model = Broken(messages=reply())
    with instrument_langchain(model), pytest.raises(ValueError, match="model exploded"):
        model.invoke("hi")
    span = one_span(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ValueError"


def test_llm_output_token_usage_fallback() -> None:
    result = LLMResult(
        generations=[[ChatGeneration(message=AIMessage(content="x"))]],
        llm_output={
            "token_usage": {
                "prompt_tokens": 70,
                "completion_tokens": 20,
                "prompt_tokens_details": {"cached_tokens": 40},
            }
        },
    )
    usage = result_usage(result)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (70, 20, 40)
