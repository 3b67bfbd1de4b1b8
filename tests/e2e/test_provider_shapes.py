"""One provider response per usage shape, reported two ways to a real server on both stores:
through the real provider SDK wrapped by Margin (its span → OTLP → ``/v1/traces``) and
through ``POST /v1/costs`` (the same response as the usage block). Both must store the same
canonical usage and the same amount."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import boto3
import httpx
import httpx2
import openai
import pytest
import uvicorn
from google import genai
from google.genai import types as genai_types
from mistralai.client import Mistral

import margin
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin_testing import Tenant, free_port

pytestmark = pytest.mark.slow

Json = dict[str, Any]


def _http(response: Json) -> httpx2.Client:
    return httpx2.Client(
        transport=httpx2.MockTransport(lambda _: httpx2.Response(200, json=response))
    )


def _openai(response: Json) -> openai.OpenAI:
    client = openai.OpenAI(api_key="sk-test", http_client=_http(response), max_retries=0)
    margin.instrument_openai(client)
    return client


def openai_chat(response: Json) -> None:
    _openai(response).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )


def openai_responses(response: Json) -> None:
    _openai(response).responses.create(model="gpt-4.1", input="hi")


def openai_embeddings(response: Json) -> None:
    _openai(response).embeddings.create(model="text-embedding-3-small", input="hi")


def openai_images(response: Json) -> None:
    _openai(response).images.generate(model="gpt-image-1", prompt="a cat", n=2)


def openai_audio(response: Json) -> None:
    _openai(response).audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"))


def anthropic_messages(response: Json) -> None:
    client = anthropic.Anthropic(api_key="sk-ant", http_client=_http(response), max_retries=0)
    margin.instrument_anthropic(client)
    client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "hi"}],
    )


def gemini_generate(response: Json) -> None:
    options = genai_types.HttpOptions(httpx_client=_http(response))
    client = genai.Client(api_key="g-test", http_options=options)
    margin.instrument_gemini(client)
    client.models.generate_content(model="gemini-2.5-pro", contents="hi")


def mistral_chat(response: Json) -> None:
    client = Mistral(api_key="m-test", client=_http(response))
    margin.instrument_mistral(client)
    client.chat.complete(model="mistral-large-latest", messages=[{"role": "user", "content": "hi"}])


def bedrock_converse(response: Json) -> None:
    body = json.dumps(response).encode()

    class Converse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Converse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            aws_access_key_id="AKIDTEST",
            aws_secret_access_key="secret",
        )
        margin.instrument_bedrock(client)
        client.converse(
            modelId="anthropic.claude-3-5-haiku-20241022-v1:0",
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
        )
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Shape:
    call: Callable[[Json], None]
    provider: str  # as the wrapper names it on the span
    model: str  # what the cost is priced as (the response's model, else the request's)
    response: Json
    usage: dict[str, int]
    amount: str | None = None  # worked out by hand from the catalog's rates, where given


_CHAT_CHOICE = {
    "index": 0,
    "message": {"role": "assistant", "content": "hello"},
    "finish_reason": "stop",
}

SHAPES: dict[str, Shape] = {
    "openai chat": Shape(
        openai_chat,
        "openai",
        "gpt-4o-2024-08-06",
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1760000000,
            "model": "gpt-4o-2024-08-06",
            "choices": [_CHAT_CHOICE],
            "usage": {
                "prompt_tokens": 1200,
                "completion_tokens": 300,
                "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 150},
                "completion_tokens_details": {"reasoning_tokens": 200},
            },
        },
        {
            "input_tokens": 1200,
            "cache_read_tokens": 1000,
            "cache_write_tokens": 150,
            "output_tokens": 300,
            "reasoning_tokens": 200,
        },
        # gpt-4o has no cache-write rate: 200 input at 2.50/M + 1,000 cache reads at 1.25/M
        # + 300 output at 10/M.
        "0.00475",
    ),
    "openai responses": Shape(
        openai_responses,
        "openai",
        "gpt-4.1-2025-04-14",
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1760000000,
            "status": "completed",
            "model": "gpt-4.1-2025-04-14",
            "output": [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 900,
                "input_tokens_details": {"cached_tokens": 600},
                "output_tokens": 450,
                "output_tokens_details": {"reasoning_tokens": 320},
                "total_tokens": 1350,
            },
        },
        {
            "input_tokens": 900,
            "cache_read_tokens": 600,
            "output_tokens": 450,
            "reasoning_tokens": 320,
        },
    ),
    "openai embeddings": Shape(
        openai_embeddings,
        "openai",
        "text-embedding-3-small",
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 42, "total_tokens": 42},
        },
        {"input_tokens": 42},
    ),
    "openai images": Shape(
        openai_images,
        "openai",
        "gpt-image-1",
        {
            "created": 1760000000,
            "data": [{"b64_json": "aGk="}, {"b64_json": "aG8="}],
            "usage": {
                "input_tokens": 50,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
                "output_tokens": 4160,
                "total_tokens": 4210,
            },
        },
        {"input_tokens": 50, "output_tokens": 4160, "images": 2},
    ),
    "openai audio": Shape(
        openai_audio,
        "openai",
        "whisper-1",
        {"text": "Hello there.", "usage": {"type": "duration", "seconds": 12.5}},
        {"audio_seconds": 13},
        # 12.5 s billed as 13 (nearest second, half up) at 0.36 an hour.
        "0.0013",
    ),
    "anthropic 5m and 1h cache writes, thinking": Shape(
        anthropic_messages,
        "anthropic",
        "claude-sonnet-4-5-20250929",
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "Hi."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 2000,
                "cache_read_input_tokens": 8000,
                "cache_creation_input_tokens": 2000,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 1500,
                    "ephemeral_1h_input_tokens": 500,
                },
                "output_tokens": 700,
                "output_tokens_details": {"thinking_tokens": 300},
                "service_tier": "standard",
            },
        },
        {
            "input_tokens": 12000,
            "cache_read_tokens": 8000,
            "cache_write_tokens": 2000,
            "cache_write_5m_tokens": 1500,
            "cache_write_1h_tokens": 500,
            "output_tokens": 700,
            "reasoning_tokens": 300,
        },
        # 2,000 input at 3/M + 8,000 cache reads at 0.30/M + 1,500 five-minute writes at
        # 3.75/M + 500 one-hour writes at 6/M + 700 output at 15/M.
        "0.027525",
    ),
    "gemini thoughts and cached content": Shape(
        gemini_generate,
        "gcp.gemini",
        "gemini-2.5-pro",
        {
            "candidates": [
                {"content": {"parts": [{"text": "Blue."}], "role": "model"}, "finishReason": "STOP"}
            ],
            "usageMetadata": {
                "promptTokenCount": 820,
                "cachedContentTokenCount": 512,
                "candidatesTokenCount": 95,
                "thoughtsTokenCount": 140,
                "totalTokenCount": 1055,
            },
            "modelVersion": "gemini-2.5-pro",
            "responseId": "gem-1",
        },
        {
            "input_tokens": 820,
            "cache_read_tokens": 512,
            "output_tokens": 235,
            "reasoning_tokens": 140,
        },
    ),
    "bedrock cache": Shape(
        bedrock_converse,
        "aws.bedrock",
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Hola!"}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": 310,
                "outputTokens": 87,
                "totalTokens": 2597,
                "cacheReadInputTokens": 2000,
                "cacheWriteInputTokens": 200,
            },
            "metrics": {"latencyMs": 412},
        },
        {
            "input_tokens": 2510,
            "cache_read_tokens": 2000,
            "cache_write_tokens": 200,
            "output_tokens": 87,
        },
        # 310 input at 0.80/M + 2,000 cache reads at 0.08/M + 200 writes at 1/M + 87 output at 4/M.
        "0.000956",
    ),
    "mistral": Shape(
        mistral_chat,
        "mistral_ai",
        "mistral-large-latest",
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": 1760000000,
            "model": "mistral-large-latest",
            "choices": [_CHAT_CHOICE],
            "usage": {"prompt_tokens": 640, "completion_tokens": 73, "total_tokens": 713},
        },
        {"input_tokens": 640, "output_tokens": 73},
    ),
}


@pytest.fixture
def server_url(db: Database, tmp_path: Path) -> Iterator[str]:
    """Margin served by uvicorn on 127.0.0.1 over the store under test."""
    app = create_app(Settings(data_dir=tmp_path), db=db, migrate=False)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_level="warning", ws="none", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{config.port}"
    server.should_exit = True
    thread.join(timeout=20)


def _costs(url: str, tenant: Tenant, customer: str) -> list[Json]:
    response = httpx.get(
        f"{url}/v1/costs", params={"customer": customer}, headers=tenant.headers("read")
    )
    assert response.status_code == 200, response.text
    found: list[Json] = response.json()["data"]
    return found


def test_every_shape_costs_the_same_through_the_sdk_and_post_costs(
    server_url: str, tenant: Tenant, sdk_reset: None, tmp_path: Path
) -> None:
    assert margin.configure(
        api_key=tenant.keys["ingest"],
        base_url=server_url,
        spool_dir=tmp_path / "spool",
        export_interval=0.05,
    )
    for n, shape in enumerate(SHAPES.values()):
        with margin.trace(f"sdk-{n}", "shapes"):
            shape.call(shape.response)
    assert margin.flush(timeout=60)
    assert margin.delivery_stats()["rejected"] == 0
    for n, (name, shape) in enumerate(SHAPES.items()):
        [through_sdk] = _costs(server_url, tenant, f"sdk-{n}")
        posted = httpx.post(
            f"{server_url}/v1/costs",
            json={
                "customer": f"api-{n}",
                "provider": shape.provider,
                "model": shape.model,
                "usage": shape.response,
                "timestamp": through_sdk["ts"],
            },
            headers=tenant.headers("ingest"),
        )
        assert posted.status_code in (200, 201), posted.text
        [through_api] = _costs(server_url, tenant, f"api-{n}")
        for cost in (through_sdk, through_api):
            assert cost["usage"] == shape.usage, name
            assert cost["model"] == shape.model, name
            assert cost["priced_by"] == "catalog", (name, cost["unpriced_reason"])
        assert through_sdk["amount"] == through_api["amount"], name
        assert through_sdk["price_ref"] == through_api["price_ref"], name
        if shape.amount is not None:
            assert Decimal(through_sdk["amount"]) == Decimal(shape.amount), name
