"""An OTLP export larger than JetStream's largest message is published in parts: every span
once, with its resource and scope, whole traces together where a trace fits."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from margin.queue.exports import _bodies
from margin.server.problems import Problem


def _export(traces: int, spans_per_trace: int) -> ExportTraceServiceRequest:
    spans = [
        Span(trace_id=bytes([t + 1]) * 16, span_id=bytes([t + 1, s + 1]) * 4, name="x" * 50)
        for t in range(traces)
        for s in range(spans_per_trace)
    ]
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="a"))]
                ),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="s"), spans=spans)],
            )
        ]
    )


def test_a_large_export_is_cut_in_parts_of_whole_traces() -> None:
    request = _export(traces=8, spans_per_trace=4)
    whole = request.SerializeToString()
    parts = [ExportTraceServiceRequest.FromString(b) for b in _bodies(request, len(whole) // 3)]
    assert len(parts) == 4
    seen = []
    for part in parts:
        assert len(part.SerializeToString()) <= len(whole) // 3
        [rs] = part.resource_spans
        assert rs.resource.attributes[0].value.string_value == "a"
        [ss] = rs.scope_spans
        assert ss.scope.name == "s"
        traces = {sp.trace_id for sp in ss.spans}
        assert len(ss.spans) == 4 * len(traces)  # no trace is split
        seen += [sp.span_id for sp in ss.spans]
    assert sorted(seen) == sorted(
        sp.span_id for sp in request.resource_spans[0].scope_spans[0].spans
    )
    assert _bodies(request, len(whole)) == [whole]


def test_traces_of_unequal_size_are_not_cut() -> None:
    request = _export(traces=3, spans_per_trace=3)
    extra = request.resource_spans[0].scope_spans[0].spans
    extra.add().CopyFrom(Span(trace_id=bytes([9]) * 16, span_id=bytes([9]) * 8, name="y"))
    whole = request.SerializeToString()
    parts = [ExportTraceServiceRequest.FromString(b) for b in _bodies(request, len(whole) - 1)]
    sizes = sorted(
        sorted(
            len([s for s in p.resource_spans[0].scope_spans[0].spans if s.trace_id == t])
            for t in {s.trace_id for s in p.resource_spans[0].scope_spans[0].spans}
        )
        for p in parts
    )
    assert sizes == [[1, 3], [3, 3]]  # 10 spans: cut between traces, never inside one


def test_a_span_larger_than_a_message_is_refused() -> None:
    with pytest.raises(Problem) as refused:
        _bodies(_export(traces=1, spans_per_trace=1), 10)
    assert (refused.value.status, refused.value.field) == (413, "body")
