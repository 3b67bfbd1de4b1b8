"""Gemini wrapper: a real ``google-genai`` client over an httpx2 MockTransport."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types
from opentelemetry.trace import StatusCode
from wrapper_helpers import SpanGetter, fixture_json, fixture_text, one_span

from margin.sdk.instrument import instrument_gemini

MODEL = "gemini-2.5-flash"


def handler(request: httpx2.Request) -> httpx2.Response:
    if "broken" in request.url.path:
        return httpx2.Response(
            400, json={"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}
        )
    if request.url.path.endswith(":streamGenerateContent"):
        return httpx2.Response(
            200,
            content=fixture_text("gemini_stream.sse").encode(),
            headers={"content-type": "text/event-stream"},
        )
    return httpx2.Response(200, json=fixture_json("gemini_generate.json"))


def make_client() -> genai.Client:
    options = types.HttpOptions(
        httpx_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        httpx_async_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    return genai.Client(api_key="g-test", http_options=options)


def assert_usage(attrs: Any) -> None:
    assert attrs["gen_ai.usage.input_tokens"] == 820
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 512
    # 95 candidate tokens + 140 thinking tokens
    assert attrs["gen_ai.usage.output_tokens"] == 235
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 140


def test_generate_content(spans: SpanGetter) -> None:
    client = make_client()
    with instrument_gemini(client):
        response = client.models.generate_content(model=MODEL, contents="Sky colour?")
    assert response.text == "Blue, mostly."
    span = one_span(spans)
    assert span.name == f"generate_content {MODEL}"
    attrs = span.attributes or {}
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.response.model"] == "gemini-2.5-flash-001"
    assert attrs["gen_ai.response.id"] == "gem-resp-1"
    assert_usage(attrs)


def test_generate_content_stream(spans: SpanGetter) -> None:
    client = make_client()
    with instrument_gemini(client):
        texts = [c.text for c in client.models.generate_content_stream(model=MODEL, contents="?")]
    assert texts == ["Blue", ", mostly."]
    attrs = one_span(spans).attributes or {}
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == "gem-stream-1"
    assert_usage(attrs)


async def test_async(spans: SpanGetter) -> None:
    with instrument_gemini():
        client = make_client()
        await client.aio.models.generate_content(model=MODEL, contents="?")
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="?")
        texts = [c.text async for c in stream]
    assert texts == ["Blue", ", mostly."]
    found = spans()
    assert len(found) == 2
    for span in found:
        assert_usage(span.attributes)


def test_twice_then_revert(spans: SpanGetter) -> None:
    client = make_client()
    with instrument_gemini(client), instrument_gemini(client):
        client.models.generate_content(model=MODEL, contents="?")
    client.models.generate_content(model=MODEL, contents="?")
    assert len(spans()) == 1


def test_error(spans: SpanGetter) -> None:
    client = make_client()
    with instrument_gemini(client), pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini-broken", contents="?")
    assert info.value.code == 400
    assert one_span(spans).status.status_code == StatusCode.ERROR
