"""OTLP request bodies at their edges: gzip bodies of several members (every member read,
the size limit kept across them), bytes after the compressed data, and OTLP/JSON keys
spelled as proto field names (snake_case), which OTLP/JSON does not allow."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import func, select
from test_otlp import PB, costs_of, export, gen_ai, new_span, new_trace, otlp_json, span

from margin.settings import Settings
from margin.store.schema import costs, signals, spans
from margin_testing import Api

LIMIT = 256 * 1024
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, max_body_bytes=LIMIT)


def stored(api: Api) -> tuple[int, int, int]:
    """How many spans, costs and signals the store holds."""
    with api.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (spans, costs, signals)
        )


def send(api: Api, body: bytes, encoding: str, media: dict[str, str] = PB) -> Any:
    headers = {**media, "Content-Encoding": encoding}
    return api.post("/v1/traces", content=body, headers=headers, scope="ingest")


def call(trace: str, response_id: str) -> bytes:
    return export(span(trace, gen_ai(**{"gen_ai.response.id": response_id}))).SerializeToString()


def test_every_gzip_member_is_read(api: Api) -> None:
    trace = new_trace()
    body = gzip.compress(call(trace, "r1")) + gzip.compress(call(trace, "r2"))
    response = send(api, body + gzip.compress(b""), "gzip")
    assert response.status_code == 200, response.text
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    assert sorted(c["response_id"] for c in costs_of(api, trace)) == ["r1", "r2"]
    assert stored(api) == (2, 2, 0)


def test_gzip_members_of_json_are_read(api: Api) -> None:
    trace, sid = new_trace(), new_span()
    text = otlp_json(export(span(trace, gen_ai(), span_id=sid)))
    # Protobuf messages concatenate; JSON text does not: split one document in two members.
    body = gzip.compress(text[:40]) + gzip.compress(text[40:])
    response = send(api, body, "gzip", JSON)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert [c["span_id"] for c in costs_of(api, trace)] == [sid]


@pytest.mark.parametrize("tail", [b"garbage", b"\x00" * 8, b"\x1f"])
def test_bytes_after_the_last_gzip_member_refuse_the_body(api: Api, tail: bytes) -> None:
    response = send(api, gzip.compress(call(new_trace(), "r1")) + tail, "gzip")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-protobuf"
    status = Status.FromString(response.content)
    assert status.code == 3
    assert status.message == (
        "body: body has bytes after the end of its gzip data: not a gzip member"
    )
    assert stored(api) == (0, 0, 0)


def test_a_gzip_member_cut_short_refuses_the_body(api: Api) -> None:
    second = gzip.compress(call(new_trace(), "r2"))
    body = gzip.compress(call(new_trace(), "r1")) + second[:12]
    response = send(api, body, "gzip", JSON)
    assert response.status_code == 400
    assert response.json()["detail"] == "body is truncated gzip data"
    assert response.json()["field"] == "body"
    assert stored(api) == (0, 0, 0)


def test_bytes_after_deflate_data_refuse_the_body(api: Api) -> None:
    data = zlib.compress(call(new_trace(), "r1"))
    response = send(api, data + zlib.compress(call(new_trace(), "r2")), "deflate", JSON)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == "body"
    assert problem["detail"] == "body has bytes after the end of its deflate data: not deflate data"
    assert stored(api) == (0, 0, 0)
    assert send(api, data, "deflate").status_code == 200
    assert stored(api) == (1, 1, 0)


def test_the_size_limit_holds_across_gzip_members(api: Api) -> None:
    trace = new_trace()
    padded = export(span(trace, gen_ai(pad="x" * (LIMIT // 4)))).SerializeToString()
    member = gzip.compress(padded)
    assert len(member) < 2048
    bomb = send(api, member * 4, "gzip")
    assert bomb.status_code == 413
    assert Status.FromString(bomb.content).message == (
        f"body: decompressed body exceeds {LIMIT} bytes"
    )
    assert stored(api) == (0, 0, 0)
    # Three such members are within the limit (one span, sent three times: stored once).
    assert send(api, member * 3, "gzip").status_code == 200
    assert stored(api) == (1, 1, 0)


def snake(data: Any, keys: set[str]) -> Any:
    """``data`` with the given keys spelled as their proto field names."""
    if isinstance(data, list):
        return [snake(item, keys) for item in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        name = "".join(f"_{c.lower()}" if c.isupper() else c for c in key) if key in keys else key
        out[name] = snake(value, keys)
    return out


@pytest.mark.parametrize(
    ("keys", "field", "name"),
    [
        ({"resourceSpans"}, "resource_spans", "resourceSpans"),
        ({"scopeSpans"}, "resourceSpans.0.scope_spans", "scopeSpans"),
        ({"traceId"}, "resourceSpans.0.scopeSpans.0.spans.0.trace_id", "traceId"),
        ({"parentSpanId"}, "resourceSpans.0.scopeSpans.0.spans.0.parent_span_id", "parentSpanId"),
        (
            {"intValue"},
            "resourceSpans.0.scopeSpans.0.spans.0.attributes.3.value.int_value",
            "intValue",
        ),
    ],
)
def test_snake_case_json_keys_refuse_the_body(
    api: Api, keys: set[str], field: str, name: str
) -> None:
    request = export(span(new_trace(), gen_ai(), parent=new_span()))
    body = orjson.dumps(snake(orjson.loads(otlp_json(request)), keys))
    response = api.post("/v1/traces", content=body, headers=JSON, scope="ingest")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == field
    key = field.rsplit(".", 1)[-1]
    assert problem["detail"] == f"OTLP/JSON keys are lowerCamelCase: '{key}' must be '{name}'"
    assert stored(api) == (0, 0, 0)


def test_snake_case_text_in_values_is_only_text(api: Api) -> None:
    trace = new_trace()
    values = gen_ai(trace_id="span_id", note='{"resource_spans": [], "trace_id": 1}')
    request = export(span(trace, values))
    response = api.post("/v1/traces", content=otlp_json(request), headers=JSON, scope="ingest")
    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert stored(api) == (1, 1, 0)
