"""OpenAI Agents SDK: a real ``Runner`` on a Responses model over an httpx2 MockTransport."""

from __future__ import annotations

from collections.abc import Iterator

import agents
import httpx2
import openai
import pytest
from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner
from wrapper_helpers import SpanGetter, fixture_json, one_span

from margin.sdk.instrument import instrument_openai_agents


def handler(request: httpx2.Request) -> httpx2.Response:
    if request.url.path == "/v1/responses":
        return httpx2.Response(200, json=fixture_json("openai_responses.json"))
    return httpx2.Response(200, json=fixture_json("openai_chat.json"))


def make_client() -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return openai.AsyncOpenAI(api_key="sk-test", http_client=http)


@pytest.fixture(autouse=True)
def no_default_exporter() -> Iterator[None]:
    # The SDK's default processor uploads traces to OpenAI; keep the test offline.
    provider = agents.tracing.get_trace_provider()
    before = list(provider._multi_processor._processors)  # type: ignore[attr-defined]
    agents.set_trace_processors([])
    yield
    agents.set_trace_processors(before)


async def test_responses_model(spans: SpanGetter) -> None:
    agent = Agent(name="greeter", model=OpenAIResponsesModel("gpt-5", make_client()))
    with instrument_openai_agents(), instrument_openai_agents():
        result = await Runner.run(agent, "hi")
    assert result.final_output == "Hi there"
    span = one_span(spans)
    attrs = span.attributes or {}
    assert span.name == "chat gpt-5-2025-08-07"
    assert attrs["gen_ai.response.id"] == "resp_abc123"
    assert attrs["gen_ai.usage.input_tokens"] == 900
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 600
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 100
    assert attrs["gen_ai.usage.output_tokens"] == 450
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 320
    assert attrs["margin.framework"] == "openai_agents"


async def test_chat_completions_model_then_revert(spans: SpanGetter) -> None:
    agent = Agent(name="greeter", model=OpenAIChatCompletionsModel("gpt-4o", make_client()))
    with instrument_openai_agents():
        await Runner.run(agent, "hi")
    await Runner.run(agent, "hi")
    span = one_span(spans)
    attrs = span.attributes or {}
    assert span.name == "chat gpt-4o"
    assert attrs["gen_ai.usage.input_tokens"] == 1200
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attrs["gen_ai.usage.output_tokens"] == 300
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 200
