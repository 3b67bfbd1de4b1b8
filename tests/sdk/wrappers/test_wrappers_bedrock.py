"""Bedrock wrapper: a real boto3 ``bedrock-runtime`` client against a loopback fake endpoint.

The fake serves Converse JSON and ConverseStream in AWS's binary event-stream framing.
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from opentelemetry.trace import StatusCode
from wrapper_helpers import SpanGetter, fixture_json, one_span

from margin.sdk.instrument import instrument_bedrock

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
MESSAGES: list[Any] = [{"role": "user", "content": [{"text": "Say hi in Spanish"}]}]


def _header(name: str, value: str) -> bytes:
    raw = value.encode()
    return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw


def event_message(event: dict[str, Any]) -> bytes:
    """One AWS event-stream frame: prelude, prelude CRC, headers, payload, message CRC."""
    ((kind, body),) = event.items()
    headers = (
        _header(":event-type", kind)
        + _header(":content-type", "application/json")
        + _header(":message-type", "event")
    )
    payload = json.dumps(body).encode()
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


class FakeBedrock(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        if "broken" in self.path:
            self._send(
                400,
                "application/json",
                b'{"message": "The provided model identifier is invalid."}',
                {"x-amzn-errortype": "ValidationException"},
            )
        elif self.path.endswith("/converse-stream"):
            events = fixture_json("bedrock_converse_stream.json")
            body = b"".join(event_message(e) for e in events)
            self._send(200, "application/vnd.amazon.eventstream", body)
        else:
            self._send(
                200, "application/json", json.dumps(fixture_json("bedrock_converse.json")).encode()
            )

    def _send(
        self, status: int, ctype: str, body: bytes, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-amzn-requestid", "req-123")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeBedrock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def make_client(endpoint: str) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )


def assert_usage(attrs: Any) -> None:
    # 310 uncached + 2000 cache read + 200 cache write
    assert attrs["gen_ai.usage.input_tokens"] == 2510
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 2000
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 200
    assert attrs["gen_ai.usage.output_tokens"] == 87


def test_converse(endpoint: str, spans: SpanGetter) -> None:
    client = make_client(endpoint)
    with instrument_bedrock(client):
        result = client.converse(modelId=MODEL, messages=MESSAGES)
    assert result["output"]["message"]["content"][0]["text"] == "Hola!"
    span = one_span(spans)
    assert span.name == f"chat {MODEL}"
    attrs = span.attributes or {}
    assert attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["aws.request_id"] == "req-123"
    assert_usage(attrs)


def test_converse_stream(endpoint: str, spans: SpanGetter) -> None:
    expected = list(
        make_client(endpoint).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    )
    client = make_client(endpoint)
    with instrument_bedrock(client):
        response = client.converse_stream(modelId=MODEL, messages=MESSAGES)
        events = list(response["stream"])
    assert events == expected
    assert len(events) == 6
    attrs = one_span(spans).attributes or {}
    assert attrs["gen_ai.request.stream"] is True
    assert_usage(attrs)


def test_global_covers_new_clients_and_reverts(endpoint: str, spans: SpanGetter) -> None:
    with instrument_bedrock(), instrument_bedrock():
        client = make_client(endpoint)
        client.converse(modelId=MODEL, messages=MESSAGES)
    client.converse(modelId=MODEL, messages=MESSAGES)
    make_client(endpoint).converse(modelId=MODEL, messages=MESSAGES)
    assert len(spans()) == 1


def test_error(endpoint: str, spans: SpanGetter) -> None:
    client = make_client(endpoint)
    with instrument_bedrock(client), pytest.raises(ClientError) as info:
        client.converse(modelId="broken-model", messages=MESSAGES)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    span = one_span(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ValidationException"
