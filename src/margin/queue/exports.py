"""OTLP exports in queue mode: an export is published whole (its protobuf), cut in parts of
whole traces when it is larger than JetStream's largest message; a writer stores each part
through the same receiver as the direct path (``margin.server.otlp.receive``)."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from margin._time import now_micros
from margin.queue.envelope import Envelope
from margin.server.problems import Problem

__all__ = ["export_envelopes"]


def _halves(request: ExportTraceServiceRequest) -> list[ExportTraceServiceRequest]:
    """The export's spans in two exports, in trace order, cut between two traces (inside a
    trace only when it is the whole export), each span with its resource and scope."""
    placed = [
        (sp.trace_id, r, s, sp)
        for r, rs in enumerate(request.resource_spans)
        for s, ss in enumerate(rs.scope_spans)
        for sp in ss.spans
    ]
    placed.sort(key=lambda p: p[0])
    # The trace boundary nearest the middle (the middle itself when one trace is all).
    bounds = [i for i in range(1, len(placed)) if placed[i][0] != placed[i - 1][0]]
    middle = min(bounds, key=lambda i: abs(2 * i - len(placed))) if bounds else len(placed) // 2
    parts = []
    for group in (placed[:middle], placed[middle:]):
        part = ExportTraceServiceRequest()
        made: dict[tuple[int, int], object] = {}
        resources: dict[int, object] = {}
        for _trace, r, s, sp in group:
            if (r, s) not in made:
                if r not in resources:
                    rs = part.resource_spans.add()
                    source = request.resource_spans[r]
                    rs.resource.CopyFrom(source.resource)
                    rs.schema_url = source.schema_url
                    resources[r] = rs
                scope = resources[r].scope_spans.add()  # type: ignore[attr-defined]
                original = request.resource_spans[r].scope_spans[s]
                scope.scope.CopyFrom(original.scope)
                scope.schema_url = original.schema_url
                made[(r, s)] = scope
            made[(r, s)].spans.add().CopyFrom(sp)  # type: ignore[attr-defined]
        parts.append(part)
    return parts


def _bodies(request: ExportTraceServiceRequest, limit: int) -> list[bytes]:
    body = request.SerializeToString()
    if len(body) <= limit:
        return [body]
    spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if spans <= 1:
        raise Problem(413, f"a span is larger than the queue's {limit} bytes", field="body")
    return [b for half in _halves(request) for b in _bodies(half, limit)]


def export_envelopes(org_id: str, request: ExportTraceServiceRequest, limit: int) -> list[Envelope]:
    """An export as envelopes within ``limit`` bytes each."""
    now = now_micros()
    return [
        Envelope("otlp", org_id, now, "otlp", body, Envelope.new_id())
        for body in _bodies(request, limit)
    ]
