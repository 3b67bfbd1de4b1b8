"""OpenAI wrapper: real ``openai`` clients over an httpx2 MockTransport."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel
from wrapper_helpers import SpanGetter, fixture_json, fixture_text, one_span

from margin.sdk._context import TraceScope, scope_var
from margin.sdk.instrument import instrument_openai

ROUTES = {
    "/v1/chat/completions": "openai_chat.json",
    "/v1/responses": "openai_responses.json",
    "/v1/embeddings": "openai_embeddings.json",
    "/v1/images/generations": "openai_images.json",
    "/v1/audio/transcriptions": "openai_transcription.json",
}


def _stream_body(include_usage: bool) -> bytes:
    events = fixture_text("openai_chat_stream.sse").strip().split("\n\n")
    if not include_usage:
        events = [e for e in events if '"choices":[]' not in e]
    return ("\n\n".join(events) + "\n\n").encode()


def handler(request: httpx2.Request) -> httpx2.Response:
    if request.url.path == "/v1/chat/completions":
        body = json.loads(request.content)
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return httpx2.Response(
                200, content=_stream_body(usage), headers={"content-type": "text/event-stream"}
            )
        if body.get("model") == "gpt-broken":
            return httpx2.Response(400, json={"error": {"message": "bad model", "type": "invalid"}})
    return httpx2.Response(200, json=fixture_json(ROUTES[request.url.path]))


def sync_client() -> openai.OpenAI:
    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(api_key="sk-test", http_client=httpx2.Client(transport=transport))


def async_client() -> openai.AsyncOpenAI:
    transport = httpx2.MockTransport(handler)
    return openai.AsyncOpenAI(
        api_key="sk-test", http_client=httpx2.AsyncClient(transport=transport)
    )


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    c = sync_client()
    with instrument_openai(c):
        yield c


MESSAGES: list[Any] = [{"role": "user", "content": "Capital of France?"}]


def assert_chat_usage(attrs: Any) -> None:
    assert attrs["gen_ai.usage.input_tokens"] == 1200
    assert attrs["gen_ai.usage.output_tokens"] == 300
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 150
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 200


def test_chat_completion(client: openai.OpenAI, spans: SpanGetter) -> None:
    result = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert result.id == "chatcmpl-abc123"
    span = one_span(spans)
    assert span.name == "chat gpt-4o"
    assert span.kind == SpanKind.CLIENT
    attrs = span.attributes or {}
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attrs["gen_ai.response.id"] == "chatcmpl-abc123"
    assert attrs["margin.instrumentation"] == "margin"
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]
    assert "gen_ai.input.messages" not in attrs  # no margin.trace(store_prompt=True)
    assert_chat_usage(attrs)


def _chunks(stream: Any) -> list[dict[str, Any]]:
    return [chunk.model_dump() for chunk in stream]


def test_chat_stream_requests_usage_and_hides_the_usage_chunk(
    client: openai.OpenAI, spans: SpanGetter
) -> None:
    expected = _chunks(
        sync_client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    )
    seen = _chunks(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert seen == expected
    assert len(seen) == 4
    span = one_span(spans)
    attrs = span.attributes or {}
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == "chatcmpl-s1"
    assert_chat_usage(attrs)


def test_chat_stream_keeps_usage_chunk_the_caller_asked_for(
    client: openai.OpenAI, spans: SpanGetter
) -> None:
    with client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    assert len(chunks) == 5
    assert chunks[-1].usage is not None
    assert_chat_usage(one_span(spans).attributes)


def test_chat_stream_span_ends_on_close(client: openai.OpenAI, spans: SpanGetter) -> None:
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    next(iter(stream))
    assert spans() == []
    stream.close()
    assert one_span(spans).attributes["gen_ai.response.id"] == "chatcmpl-s1"  # type: ignore[index]


def test_chat_stream_helper(client: openai.OpenAI, spans: SpanGetter) -> None:
    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello world"
    assert_chat_usage(one_span(spans).attributes)


class Answer(BaseModel):
    answer: str


def test_parse(client: openai.OpenAI, spans: SpanGetter) -> None:
    result = client.chat.completions.parse(
        model="gpt-4o", messages=MESSAGES, response_format=Answer
    )
    assert result.choices[0].message.parsed == Answer(answer="Paris")
    span = one_span(spans)
    assert span.name == "chat gpt-4o"
    assert_chat_usage(span.attributes)


def test_responses(client: openai.OpenAI, spans: SpanGetter) -> None:
    result = client.responses.create(model="gpt-5", input="hi")
    assert result.output_text == "Hi there"
    attrs = one_span(spans).attributes or {}
    assert attrs["gen_ai.response.id"] == "resp_abc123"
    assert attrs["gen_ai.response.model"] == "gpt-5-2025-08-07"
    assert attrs["gen_ai.usage.input_tokens"] == 900
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 600
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 100
    assert attrs["gen_ai.usage.output_tokens"] == 450
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 320


def test_embeddings(client: openai.OpenAI, spans: SpanGetter) -> None:
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    span = one_span(spans)
    assert span.name == "embeddings text-embedding-3-small"
    assert (span.attributes or {})["gen_ai.usage.input_tokens"] == 42


def test_images(client: openai.OpenAI, spans: SpanGetter) -> None:
    client.images.generate(model="gpt-image-1", prompt="a cat", n=2, size="1024x1024")
    span = one_span(spans)
    attrs = span.attributes or {}
    assert span.name == "image_generation gpt-image-1"
    assert attrs["margin.usage.images"] == 2
    assert attrs["gen_ai.usage.input_tokens"] == 50
    assert attrs["gen_ai.usage.output_tokens"] == 4160
    assert attrs["margin.request.image.size"] == "1024x1024"


def test_transcription(client: openai.OpenAI, spans: SpanGetter) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"))
    assert result.text == "Hello there."
    # 12.5 s, billed to the nearest second (half up), as the server reads the same response.
    assert (one_span(spans).attributes or {})["margin.usage.audio_seconds"] == 13


async def test_async_chat_and_stream(spans: SpanGetter) -> None:
    client = async_client()
    with instrument_openai(client):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        plain = await async_client().chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
        expected = [c.model_dump() async for c in plain]
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
        seen = [c.model_dump() async for c in stream]
    assert seen == expected
    found = spans()
    assert len(found) == 2
    for span in found:
        assert_chat_usage(span.attributes)
    assert (found[1].attributes or {})["gen_ai.request.stream"] is True


async def test_async_responses_and_embeddings(spans: SpanGetter) -> None:
    client = async_client()
    with instrument_openai(client):
        await client.responses.create(model="gpt-5", input="hi")
        await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert [(s.attributes or {})["gen_ai.usage.input_tokens"] for s in spans()] == [900, 42]


def test_global_patch_is_idempotent_and_revertible(spans: SpanGetter) -> None:
    first = instrument_openai()
    second = instrument_openai()
    try:
        sync_client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert len(spans()) == 1
        # Instrumenting a client of an already patched class adds nothing either.
        c = sync_client()
        with instrument_openai(c):
            c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert len(spans()) == 2
    finally:
        second.uninstrument()
        first.uninstrument()
    sync_client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(spans()) == 2


def test_client_revert(spans: SpanGetter) -> None:
    c = sync_client()
    handle = instrument_openai(c)
    instrument_openai(c)  # twice: still one span per call
    c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    handle.uninstrument()
    c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(spans()) == 1
    assert "create" not in vars(c.chat.completions)


def test_provider_error_passes_through(client: openai.OpenAI, spans: SpanGetter) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-broken", messages=MESSAGES)
    assert info.value.status_code == 400
    span = one_span(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "BadRequestError"


def test_raw_response_is_left_alone(client: openai.OpenAI, spans: SpanGetter) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    chunks = list(raw.parse())
    assert len(chunks) == 4
    assert len(spans()) == 1


def test_abandoned_stream_still_reports(client: openai.OpenAI, spans: SpanGetter) -> None:
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    for _ in stream:
        break
    del stream
    gc.collect()
    assert one_span(spans).attributes["gen_ai.response.id"] == "chatcmpl-s1"  # type: ignore[index]


def test_prompt_and_completion_recorded_when_scope_asks(
    client: openai.OpenAI, spans: SpanGetter
) -> None:
    token = scope_var.set(TraceScope(customer="acme", store_prompt=True))
    try:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    finally:
        scope_var.reset(token)
    plain, streamed = (s.attributes or {} for s in spans())
    assert json.loads(str(plain["gen_ai.input.messages"])) == MESSAGES
    assert json.loads(str(plain["gen_ai.output.messages"]))[0]["parts"][0]["content"] == (
        '{"answer": "Paris"}'
    )
    assert json.loads(str(streamed["gen_ai.output.messages"]))[0]["parts"][0]["content"] == (
        "Hello world"
    )
