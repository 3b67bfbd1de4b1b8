"""Anthropic wrapper: real ``anthropic`` clients over an httpx2 MockTransport."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from opentelemetry.trace import StatusCode
from wrapper_helpers import SpanGetter, fixture_json, fixture_text, one_span

from margin.sdk._context import TraceScope, scope_var
from margin.sdk.instrument import instrument_anthropic

MODEL = "claude-sonnet-5"
MESSAGES: list[Any] = [{"role": "user", "content": "Say hello in French"}]


def handler(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    if body["model"] == "claude-broken":
        return httpx2.Response(
            529, json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
        )
    if body.get("stream"):
        return httpx2.Response(
            200,
            content=fixture_text("anthropic_stream.sse").encode(),
            headers={"content-type": "text/event-stream"},
        )
    return httpx2.Response(200, json=fixture_json("anthropic_message.json"))


def sync_client() -> anthropic.Anthropic:
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(api_key="sk-ant-test", http_client=http, max_retries=0)


def async_client() -> anthropic.AsyncAnthropic:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return anthropic.AsyncAnthropic(api_key="sk-ant-test", http_client=http, max_retries=0)


def assert_usage(attrs: Any, output: int) -> None:
    # input = 200 uncached + 1000 cache read + 150 cache write
    assert attrs["gen_ai.usage.input_tokens"] == 1350
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 150
    assert attrs["gen_ai.usage.output_tokens"] == output


def test_create(spans: SpanGetter) -> None:
    client = sync_client()
    with instrument_anthropic(client):
        message = client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES)
    assert message.content[0].text == "Bonjour!"  # type: ignore[union-attr]
    span = one_span(spans)
    assert span.name == f"chat {MODEL}"
    attrs = span.attributes or {}
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.response.id"] == "msg_01abc"
    assert attrs["gen_ai.response.model"] == "claude-sonnet-5-20261001"
    assert_usage(attrs, 300)


def test_create_stream_takes_the_last_cumulative_output(spans: SpanGetter) -> None:
    expected = [
        e.to_dict()
        for e in sync_client().messages.create(
            model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True
        )
    ]
    client = sync_client()
    with instrument_anthropic(client):
        events = client.messages.create(
            model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True
        )
        seen = [e.to_dict() for e in events]
    assert seen == expected
    attrs = one_span(spans).attributes or {}
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == "msg_stream1"
    assert_usage(attrs, 257)


def test_stream_helper(spans: SpanGetter) -> None:
    client = sync_client()
    with (
        instrument_anthropic(client),
        client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Bonjour!"
    assert final.usage.output_tokens == 257
    attrs = one_span(spans).attributes or {}
    assert attrs["gen_ai.response.id"] == "msg_stream1"
    assert_usage(attrs, 257)


async def test_async_create_stream_and_helper(spans: SpanGetter) -> None:
    client = async_client()
    with instrument_anthropic(client):
        await client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES)
        events = await client.messages.create(
            model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True
        )
        kinds = [e.type async for e in events]
        async with client.messages.stream(
            model=MODEL, max_tokens=1024, messages=MESSAGES
        ) as stream:
            await stream.until_done()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    found = spans()
    for span, output in zip(found, [300, 257, 257], strict=True):
        assert_usage(span.attributes, output)


def test_prompts_recorded_only_when_the_scope_asks(spans: SpanGetter) -> None:
    client = sync_client()
    with instrument_anthropic(client):
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, system="Be brief")
        token = scope_var.set(TraceScope(customer="acme", store_prompt=True))
        try:
            client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, system="Be brief")
        finally:
            scope_var.reset(token)
    plain, stored = (s.attributes or {} for s in spans())
    assert "gen_ai.input.messages" not in plain
    assert json.loads(str(stored["gen_ai.input.messages"])) == MESSAGES
    assert json.loads(str(stored["gen_ai.system_instructions"])) == "Be brief"
    output = json.loads(str(stored["gen_ai.output.messages"]))
    assert output[0]["parts"][0]["content"] == "Bonjour!"


def test_global_instrumentation_idempotent_and_reverted(spans: SpanGetter) -> None:
    with instrument_anthropic(), instrument_anthropic():
        sync_client().messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    sync_client().messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    assert len(spans()) == 1


def test_error_passes_through(spans: SpanGetter) -> None:
    client = sync_client()
    with instrument_anthropic(client), pytest.raises(anthropic.InternalServerError) as info:
        client.messages.create(model="claude-broken", max_tokens=10, messages=MESSAGES)
    assert info.value.status_code == 529
    span = one_span(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert (
        (span.attributes or {})["error.type"] == type(info.value).__qualname__ == "OverloadedError"
    )
