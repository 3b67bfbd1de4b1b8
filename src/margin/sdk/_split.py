"""Halving a request body, to find the item a server keeps failing on: a batch is split in
two, each half sent on its own, and a failing half split again (see ``Delivery``)."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from margin.sdk import span_batch

__all__ = ["Part", "split_payload"]

Part = tuple[int, bytes]


def _spans(request: ExportTraceServiceRequest) -> list[tuple[int, int, Any]]:
    return [
        (r, s, span)
        for r, resource_spans in enumerate(request.resource_spans)
        for s, scope_spans in enumerate(resource_spans.scope_spans)
        for span in scope_spans.spans
    ]


def _traces_body(request: ExportTraceServiceRequest, part: list[tuple[int, int, Any]]) -> bytes:
    out = ExportTraceServiceRequest()
    made: dict[tuple[int, int], Any] = {}
    resources: dict[int, Any] = {}
    for r, s, span in part:
        scope_spans = made.get((r, s))
        if scope_spans is None:
            resource_spans = resources.get(r)
            if resource_spans is None:
                source = request.resource_spans[r]
                resource_spans = resources[r] = out.resource_spans.add()
                resource_spans.resource.CopyFrom(source.resource)
                resource_spans.schema_url = source.schema_url
            source_scope = request.resource_spans[r].scope_spans[s]
            scope_spans = made[(r, s)] = resource_spans.scope_spans.add()
            scope_spans.scope.CopyFrom(source_scope.scope)
            scope_spans.schema_url = source_scope.schema_url
        scope_spans.spans.append(span)
    return gzip.compress(out.SerializeToString(), compresslevel=1)


def split_payload(kind: str, payload: bytes) -> tuple[Part, Part] | None:
    """The two halves of a ``traces`` (gzip OTLP), ``spans`` (gzip ``span_batch``) or
    ``signals`` (JSON) body, each with its item count; None for a body of one item (or one
    that cannot be read)."""
    try:
        if kind == "spans":
            return span_batch.split(payload)
        if kind == "traces":
            request = ExportTraceServiceRequest.FromString(gzip.decompress(payload))
            spans = _spans(request)
            if len(spans) < 2:
                return None
            half = len(spans) // 2
            first, second = spans[:half], spans[half:]
            return (
                (len(first), _traces_body(request, first)),
                (len(second), _traces_body(request, second)),
            )
        items = orjson.loads(payload)["items"]
    except Exception:
        return None
    if not isinstance(items, list) or len(items) < 2:
        return None
    half = len(items) // 2
    return (
        (half, orjson.dumps({"items": items[:half]})),
        (len(items) - half, orjson.dumps({"items": items[half:]})),
    )
