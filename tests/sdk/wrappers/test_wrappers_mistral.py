"""Mistral wrapper: a real ``mistralai`` client over an httpx2 MockTransport."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mistralai.client import Mistral
from mistralai.client.errors import SDKError
from opentelemetry.trace import StatusCode
from wrapper_helpers import SpanGetter, fixture_json, fixture_text, one_span

from margin.sdk.instrument import instrument_mistral

MODEL = "mistral-large-latest"
MESSAGES: list[Any] = [{"role": "user", "content": "Say hi in French"}]


def handler(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    if body["model"] == "broken":
        return httpx2.Response(418, json={"message": "teapot"})
    if request.url.path.endswith("/embeddings"):
        return httpx2.Response(200, json=fixture_json("mistral_embeddings.json"))
    if body.get("stream"):
        return httpx2.Response(
            200,
            content=fixture_text("mistral_chat_stream.sse").encode(),
            headers={"content-type": "text/event-stream"},
        )
    return httpx2.Response(200, json=fixture_json("mistral_chat.json"))


def make_client() -> Mistral:
    return Mistral(
        api_key="m-test",
        client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        async_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )


def assert_usage(attrs: Any) -> None:
    assert attrs["gen_ai.usage.input_tokens"] == 640
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 512
    assert attrs["gen_ai.usage.output_tokens"] == 73


def test_complete(spans: SpanGetter) -> None:
    client = make_client()
    with instrument_mistral(client):
        result = client.chat.complete(model=MODEL, messages=MESSAGES)
    message = result.choices[0].message
    assert message is not None
    assert message.content == "Salut!"
    span = one_span(spans)
    assert span.name == f"chat {MODEL}"
    attrs = span.attributes or {}
    assert attrs["gen_ai.provider.name"] == "mistral_ai"
    assert attrs["gen_ai.response.id"] == "cmpl-mis-1"
    assert attrs["gen_ai.response.model"] == "mistral-large-2411"
    assert_usage(attrs)


def test_stream(spans: SpanGetter) -> None:
    client = make_client()
    with instrument_mistral(client), client.chat.stream(model=MODEL, messages=MESSAGES) as events:
        texts = [e.data.choices[0].delta.content for e in events]
    assert texts == ["Sa", "lut!"]
    attrs = one_span(spans).attributes or {}
    assert attrs["gen_ai.request.stream"] is True
    assert_usage(attrs)


async def test_async_and_embeddings(spans: SpanGetter) -> None:
    with instrument_mistral():
        client = make_client()
        await client.chat.complete_async(model=MODEL, messages=MESSAGES)
        events = await client.chat.stream_async(model=MODEL, messages=MESSAGES)
        texts = [e.data.choices[0].delta.content async for e in events]
        await client.embeddings.create_async(model="mistral-embed", inputs=["hi"])
    assert texts == ["Sa", "lut!"]
    chat_a, chat_b, embed = spans()
    assert_usage(chat_a.attributes)
    assert_usage(chat_b.attributes)
    assert embed.name == "embeddings mistral-embed"
    assert (embed.attributes or {})["gen_ai.usage.input_tokens"] == 9


def test_twice_then_revert(spans: SpanGetter) -> None:
    client = make_client()
    with instrument_mistral(client), instrument_mistral():
        client.chat.complete(model=MODEL, messages=MESSAGES)
    client.chat.complete(model=MODEL, messages=MESSAGES)
    assert len(spans()) == 1


def test_error(spans: SpanGetter) -> None:
    client = make_client()
    with instrument_mistral(client), pytest.raises(SDKError) as info:
        client.chat.complete(model="broken", messages=MESSAGES)
    assert info.value.status_code == 418
    assert one_span(spans).status.status_code == StatusCode.ERROR
