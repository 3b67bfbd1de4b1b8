"""OTLP/HTTP request bodies: ``decode`` one into an ``ExportTraceServiceRequest`` (see
``body``), and read its spans as plain values, refusing those whose ids or time are invalid."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from margin._payload import stored_json
from margin.server.otlp.body import JSON, PROTOBUF, SPANS, OtlpError, TooLarge, decode

__all__ = [
    "JSON",
    "PROTOBUF",
    "SPANS",
    "OtlpError",
    "Span",
    "TooLarge",
    "decode",
    "span_chunks",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_FIRST = itemgetter(0)


@dataclass(slots=True)
class Span:
    """One received span, with its attributes (and its resource's) as plain values."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    #: ``attributes`` as JSON text (what a span row stores, unless prompts are dropped).
    attributes_json: bytes
    status: str
    resource: dict[str, Any] = field(default_factory=dict)
    #: The customer and agent external ids of the span's own attributes (set by ``convert``).
    customer: str | None = None
    agent: str | None = None

    @property
    def end(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.end_ns // 1000)


_SCALARS = frozenset({"string_value", "int_value", "bool_value", "double_value"})
_which = AnyValue.WhichOneof


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind in _SCALARS:
        return getattr(value, kind)
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values, {})
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _attributes(pairs: Any, kinds: dict[str, str]) -> dict[str, Any]:
    """Attributes as a dict. ``kinds`` remembers each key's scalar kind within a request: a
    key almost always keeps its kind, and reading that field directly saves a ``WhichOneof``.
    A set field is truthy except for its zero value, so a falsy read is asked again."""
    out: dict[str, Any] = {}
    kv: KeyValue
    for kv in pairs:
        key = kv.key
        value = kv.value
        kind = kinds.get(key)
        if kind is not None:
            found = getattr(value, kind)
            if found:
                out[key] = found
                continue
        kind = _which(value, "value")
        if kind in _SCALARS:
            kinds[key] = kind
            out[key] = getattr(value, kind)
        else:
            out[key] = _value(value)
    return out


def _iso(ns: int) -> str:
    try:
        return (_EPOCH + timedelta(microseconds=ns // 1000)).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return f"{ns} ns after 1970"


def span_chunks(
    request: ExportTraceServiceRequest, horizon_ns: int, chunk_spans: int
) -> Iterator[tuple[list[Span], list[str]]]:
    """The request's spans, whole traces at a time, about ``chunk_spans`` spans a chunk (a
    large export is converted and stored a part at a time, so that its spans are never all
    in memory as Python objects at once); with each chunk, the reasons of spans refused:
    invalid ids, a time more than ``horizon_ns`` ahead, or NUL in the name or an attribute
    (span, cost and signal refused)."""
    reader = _Reader(request, horizon_ns)
    total = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if total <= chunk_spans:  # the common case: one chunk, read in one pass
        spans = [
            span
            for r, rs in enumerate(request.resource_spans)
            for ss in rs.scope_spans
            for sp in ss.spans
            if (span := reader.span(r, sp)) is not None
        ]
        yield spans, reader.take_rejected()
        return
    # (position in the request, resource index, span message) of each trace's spans.
    traces: dict[bytes, list[tuple[int, int, Any]]] = {}
    position = 0
    for r, rs in enumerate(request.resource_spans):
        for ss in rs.scope_spans:
            for sp in ss.spans:
                position += 1
                if reader.valid(sp):
                    traces.setdefault(sp.trace_id, []).append((position, r, sp))
    chunk: list[tuple[int, int, Any]] = []
    for places in traces.values():
        chunk += places
        if len(chunk) >= chunk_spans:
            yield reader.spans(sorted(chunk, key=_FIRST)), reader.take_rejected()
            chunk = []
    if chunk or reader.rejected:
        yield reader.spans(sorted(chunk, key=_FIRST)), reader.take_rejected()


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


class _Reader:
    """Reads the spans of one request as ``Span`` values, collecting the reasons of those
    it refuses."""

    def __init__(self, request: ExportTraceServiceRequest, horizon_ns: int) -> None:
        self.request = request
        self.horizon_ns = horizon_ns
        self.rejected: list[str] = []
        self._kinds: dict[str, str] = {}
        self._resources: dict[int, dict[str, Any]] = {}

    def take_rejected(self) -> list[str]:
        rejected, self.rejected = self.rejected, []
        return rejected

    def valid(self, sp: Any) -> bool:
        """Whether a span's ids and time are acceptable (else its reason is noted)."""
        trace_id, span_id = sp.trace_id, sp.span_id
        if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
            self.rejected.append(f"span '{sp.name[:64]}': invalid trace_id")
        elif len(span_id) != 8 or span_id == _ZERO_SPAN:
            self.rejected.append(f"span '{sp.name[:64]}': invalid span_id")
        elif len(sp.parent_span_id) not in (0, 8):  # empty: a root span
            self.rejected.append(
                f"span {span_id.hex()}: invalid parent_span_id: span, cost and signal refused"
            )
        elif max(sp.start_time_unix_nano, sp.end_time_unix_nano) > self.horizon_ns:
            at = _iso(max(sp.start_time_unix_nano, sp.end_time_unix_nano))
            self.rejected.append(
                f"span {span_id.hex()}: time {at} is too far in the future "
                "(MARGIN_MAX_FUTURE_SECONDS): span, cost and signal refused"
            )
        else:
            return True
        return False

    def spans(self, places: list[tuple[int, int, Any]]) -> list[Span]:
        return [span for _, r, sp in places if (span := self.span(r, sp, checked=True))]

    def span(self, r: int, sp: Any, *, checked: bool = False) -> Span | None:
        """The span ``sp`` of the ``r``-th resource, or None if refused."""
        if not checked and not self.valid(sp):
            return None
        resource = self._resources.get(r)
        if resource is None:
            resource = self._resources[r] = _attributes(
                self.request.resource_spans[r].resource.attributes, self._kinds
            )
        attributes = _attributes(sp.attributes, self._kinds)
        text = stored_json(attributes)
        # JSON escapes NUL as \u0000, in keys and nested values alike: one search finds any
        # (or text that spells it out, which the walk tells apart).
        if "\x00" in sp.name or (b"\\u0000" in text and _holds_nul(attributes)):
            # No store keeps NUL (U+0000) in text; Margin stores none anywhere.
            self.rejected.append(
                f"span {sp.span_id.hex()}: its name or an attribute contains the NUL "
                "character: span, cost and signal refused"
            )
            return None
        parent, start = sp.parent_span_id, sp.start_time_unix_nano
        return Span(
            sp.trace_id.hex(),
            sp.span_id.hex(),
            # Eight zero bytes are no span id (the OTLP spec's invalid id): a root, as empty is.
            parent.hex() if parent and parent != _ZERO_SPAN else None,
            sp.name[:512],
            sp.kind,
            start,
            sp.end_time_unix_nano or start,
            attributes,
            text,
            _STATUS.get(sp.status.code, "unset"),
            resource,
        )
