"""OTLP/HTTP trace export: decode a request body into spans, turn GenAI spans into costs and
signal spans into signals, and store all of it through the ledger.

Costs are keyed ``otlp:{trace}:{span}``, or ``otlp:{trace}:resp:{response_id}`` when the
provider's response id is known, so a call instrumented twice (a wrapper span and a native or
third-party span) is one cost even when its spans arrive in separate requests.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from margin._money import MoneyError, parse_amount
from margin.usage import SpanReader

__all__ = [
    "AGENT_KEYS",
    "CUSTOMER_KEYS",
    "JSON",
    "PROTOBUF",
    "Converted",
    "OtlpError",
    "Span",
    "StoredParties",
    "TooLarge",
    "convert",
    "decode",
    "spans_of",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


class OtlpError(ValueError):
    """A body that is not a valid ``ExportTraceServiceRequest`` (answered 400)."""

    def __init__(self, detail: str, field: str = "body") -> None:
        super().__init__(detail)
        self.field = field


class TooLarge(ValueError):
    """A compressed body that inflates beyond the size limit (answered 413)."""


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
    status: str
    resource: dict[str, Any] = field(default_factory=dict)
    #: The customer and agent external ids of the span's own attributes (set by ``convert``).
    customer: str | None = None
    agent: str | None = None

    @property
    def end(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.end_ns // 1000)


def _inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise OtlpError(f"unsupported Content-Encoding '{encoding}'", "content-encoding")
    inflater = zlib.decompressobj(31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise OtlpError(f"body is not valid {encoding}: {exc}") from None
    if len(out) > max_bytes:
        raise TooLarge(f"decompressed body exceeds {max_bytes} bytes")
    if not inflater.eof:
        raise OtlpError(f"body is truncated {encoding} data")
    return out


def _hex_to_b64(obj: dict[str, Any], key: str, where: str) -> None:
    value = obj.get(key)
    if value in (None, ""):
        return
    try:
        obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
    except (TypeError, ValueError):
        raise OtlpError(f"{where}.{key} must be a hex string", f"{where}.{key}") from None


def _from_json(body: bytes) -> ExportTraceServiceRequest:
    """OTLP JSON: like protobuf's JSON mapping, except that ids are hex, not base64."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpError("body must be a JSON object (ExportTraceServiceRequest)")
    try:
        for r, rs in enumerate(data.get("resourceSpans") or ()):
            for s, ss in enumerate(rs.get("scopeSpans") or ()):
                for n, span in enumerate(ss.get("spans") or ()):
                    where = f"resourceSpans.{r}.scopeSpans.{s}.spans.{n}"
                    for key in ("traceId", "spanId", "parentSpanId"):
                        _hex_to_b64(span, key, where)
                    for k, link in enumerate(span.get("links") or ()):
                        for key in ("traceId", "spanId"):
                            _hex_to_b64(link, key, f"{where}.links.{k}")
        message = ExportTraceServiceRequest()
        ParseDict(data, message, ignore_unknown_fields=True)
        return message
    except (ParseError, AttributeError, TypeError) as exc:
        raise OtlpError(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from None


def decode(
    body: bytes, media_type: str, encoding: str, max_bytes: int
) -> ExportTraceServiceRequest:
    """Parse an export body of ``media_type`` (protobuf or JSON), inflating gzip/deflate."""
    raw = _inflate(body, encoding.strip().lower(), max_bytes)
    if media_type == JSON:
        return _from_json(raw)
    try:
        message = ExportTraceServiceRequest()
        message.ParseFromString(raw)
        return message
    except DecodeError as exc:
        raise OtlpError(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from None


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


def spans_of(request: ExportTraceServiceRequest) -> tuple[list[Span], list[str]]:
    """The request's spans, and a reason for each span refused for invalid ids."""
    spans: list[Span] = []
    rejected: list[str] = []
    kinds: dict[str, str] = {}
    status = _STATUS
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes, kinds)
        for ss in rs.scope_spans:
            for sp in ss.spans:
                trace_id, span_id = sp.trace_id, sp.span_id
                if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
                    rejected.append(f"span '{sp.name}': invalid trace_id")
                    continue
                if len(span_id) != 8 or span_id == _ZERO_SPAN:
                    rejected.append(f"span '{sp.name}': invalid span_id")
                    continue
                parent = sp.parent_span_id
                start = sp.start_time_unix_nano
                spans.append(
                    Span(
                        trace_id.hex(),
                        span_id.hex(),
                        parent.hex() if len(parent) == 8 else None,
                        sp.name[:512],
                        sp.kind,
                        start,
                        sp.end_time_unix_nano or start,
                        _attributes(sp.attributes, kinds),
                        status.get(sp.status.code, "unset"),
                        resource,
                    )
                )
    return spans, rejected


# -- conversion: spans → stored spans, costs and signals ------------------------------------

CUSTOMER_KEYS = ("margin.customer.external_id", "external_customer_id")
AGENT_KEYS = ("margin.agent.external_id", "external_agent_id")
_STORE_PROMPT = "margin.store_prompt"
_INSTRUMENTATION = "margin.instrumentation"
# Keys holding prompts or completions (Paid's list plus the current semconv names): dropped
# before storage unless the span's trace asked for them (``margin.store_prompt``).
_PROMPT = re.compile(
    "gen_ai.completion|gen_ai.request.messages|gen_ai.response.messages|gen_ai.input.messages"
    "|gen_ai.output.messages|gen_ai.system_instructions|gen_ai.prompt|llm.output_message"
    "|llm.input_message|llm.invocation_parameters|langchain.prompt|output.value|input.value"
    "|model_request_parameters|logfire.json_schema".replace(".", r"\.")
)
# Non-token usage of Paid's wrappers, which margin.usage's token aliases do not cover.
_EXTRA_USAGE = {
    "images": "gen_ai.image.count",
    "audio_seconds": "gen_ai.audio.input_duration_seconds",
    "pages": "gen_ai.ocr.pages_processed",
}
_AMOUNTS = (
    ("gen_ai.usage.cost.amount", "gen_ai.usage.cost.currency"),
    ("costData.cost.amount", "costData.cost.currency"),
)
_PAID_SIGNAL_NAMES = frozenset({"signal", "paid.trace.signal"})

Parties = tuple[str | None, str | None]
#: (customer, agent) external ids recorded on already stored spans of the given traces.
StoredParties = Callable[[set[str]], Mapping[str, Parties]]
#: The columns of a span row as ``convert`` builds it, in order (the store adds the tenant).
SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_us",
    "end_us",
    "attributes",
    "status",
)


@dataclass
class Converted:
    """What one export request becomes: span rows, ledger items, and refusals."""

    #: One tuple per distinct span, in ``SPAN_COLUMNS`` order.
    span_rows: list[tuple[Any, ...]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    #: GenAI spans recognised as a second record of a call counted once already.
    merged: int = 0


@dataclass(slots=True)
class _Call:
    span: Span
    provider: str | None
    model: str | None
    operation: str | None
    response_id: str | None
    usage: dict[str, int]
    amount: str | None
    currency: str | None
    ours: bool


def _ref(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if value is None:
            continue
        if type(value) is str:
            if value and len(value) <= 256 and not (value[0].isspace() or value[-1].isspace()):
                return value  # already as stripping and truncating would leave it
            text = value.strip()
            if text:
                return text[:256]
        elif isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()[:256]
    return None


_EXTRA_NAMES = frozenset(_EXTRA_USAGE.values())
_AMOUNT_NAMES = frozenset(name for name, _ in _AMOUNTS)


@dataclass(frozen=True, slots=True)
class _Layout:
    """What a span's attribute names alone decide: spans of one instrumentation share their
    names (in order), so this is worked out once per layout, not per span."""

    #: The keys holding a prompt or completion (dropped unless the trace keeps them).
    prompts: tuple[str, ...]
    #: Keys naming non-token usage or a provided amount are present.
    extras: bool
    amounts: bool
    #: ``margin.signal.event_name`` / Paid's ``event_name`` are present.
    signal: bool
    paid_signal: bool
    #: Where the usage counts and the model are.
    reader: SpanReader


#: attribute names, in order → their layout (bounded: a sender varying its keys gets no memo).
_LAYOUTS: dict[tuple[str, ...], _Layout] = {}
_LAYOUTS_MAX = 4096


def _layout(attributes: Mapping[str, Any]) -> _Layout:
    names = tuple(attributes)
    layout = _LAYOUTS.get(names)
    if layout is None:
        layout = _Layout(
            tuple(name for name in names if _PROMPT.search(name)),
            not _EXTRA_NAMES.isdisjoint(names),
            not _AMOUNT_NAMES.isdisjoint(names),
            "margin.signal.event_name" in names,
            "event_name" in names,
            SpanReader(names),
        )
        if len(_LAYOUTS) < _LAYOUTS_MAX:
            _LAYOUTS[names] = layout
    return layout


def _stored_attributes(attributes: dict[str, Any], layout: _Layout) -> dict[str, Any]:
    if not layout.prompts or attributes.get(_STORE_PROMPT) is True:
        return attributes  # no prompt keys (the common case), or the trace asked to keep them
    prompts = layout.prompts
    return {k: v for k, v in attributes.items() if k not in prompts}


def _call(span: Span, layout: _Layout) -> _Call | str | None:
    """The AI call a span records, a reason it cannot be one, or None for other spans."""
    attributes = span.attributes
    usage = layout.reader.usage(attributes)
    if layout.extras:
        for key, name in _EXTRA_USAGE.items():
            value = attributes.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                usage[key] = round(value)
    amount = currency = None
    if layout.amounts:
        for amount_key, currency_key in _AMOUNTS:
            if amount_key not in attributes:
                continue
            try:
                amount = str(parse_amount(attributes[amount_key]))
                currency = str(attributes.get(currency_key) or "USD").strip().upper()
            except MoneyError as exc:
                if not usage:
                    return f"span {span.span_id}: {amount_key}: {exc}"
            break
    if not usage and amount is None:
        return None
    provider, model, operation, response_id = layout.reader.model(attributes)
    return _Call(
        span,
        provider[:64] if provider else None,
        model[:256] if model else None,
        operation[:64] if operation else None,
        response_id[:200] if response_id else None,
        usage,
        amount,
        currency,
        attributes.get(_INSTRUMENTATION) == "margin",
    )


def _same_call(a: _Call, b: _Call) -> bool:
    def agree(x: str | None, y: str | None) -> bool:
        return x is None or y is None or x == y

    return (
        a.usage == b.usage
        and a.amount == b.amount
        and agree(a.provider, b.provider)
        and agree(a.model, b.model)
    )


def _dedupe(calls: list[_Call], spans: Mapping[tuple[str, str], Span]) -> list[_Call]:
    """One call per (trace, response id), and per nested pair of spans of the same call;
    Margin's own span is preferred, else the first (or outer) one."""
    best: dict[tuple[str, str], _Call] = {}
    for call in calls:
        if call.response_id:
            key = (call.span.trace_id, call.response_id)
            current = best.get(key)
            if current is None or (call.ours and not current.ours):
                best[key] = call
    kept = [c for c in calls if not c.response_id or best[(c.span.trace_id, c.response_id)] is c]
    by_span = {(c.span.trace_id, c.span.span_id): c for c in kept}
    dropped: set[int] = set()
    for call in kept:
        parent, depth = call.span.parent_span_id, 0
        while parent and depth < 64 and id(call) not in dropped:
            outer = by_span.get((call.span.trace_id, parent))
            if outer is not None and id(outer) not in dropped and _same_call(call, outer):
                loser, winner = (outer, call) if call.ours and not outer.ours else (call, outer)
                dropped.add(id(loser))
                winner.response_id = winner.response_id or loser.response_id
                break
            above = spans.get((call.span.trace_id, parent))
            parent, depth = (above.parent_span_id if above else None), depth + 1
    return [c for c in kept if id(c) not in dropped] if dropped else kept


def _json_object(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


def _signal(span: Span, customer: str | None, agent: str | None) -> dict[str, Any] | str | None:
    """The signal item a signal span records, a reason it cannot be one, or None."""
    a = span.attributes
    if span.name == "margin.signal" or "margin.signal.event_name" in a:
        event, raw, prefix = (
            a.get("margin.signal.event_name"),
            a.get("margin.signal.data"),
            "margin.signal.",
        )
        tracing = a.get("margin.signal.cost_tracing") in (True, "true")
        key = a.get("margin.signal.idempotency_key")
    elif span.name in _PAID_SIGNAL_NAMES and "event_name" in a:
        event, raw, prefix, tracing, key = a.get("event_name"), a.get("data"), "", False, None
    else:
        return None
    where = f"span {span.span_id}"
    if not isinstance(event, str) or not event.strip():
        return f"{where}: {prefix}event_name must be a non-empty string"
    data = _json_object(raw)
    if data is None:
        return f"{where}: {prefix}data must be a JSON object"
    if not prefix:  # Paid: data.paid.enable_cost_tracing
        paid = data.get("paid")
        tracing = isinstance(paid, dict) and paid.get("enable_cost_tracing") is True
    if customer is None:
        return f"{where}: signal has no customer ({' / '.join(CUSTOMER_KEYS)})"
    item: dict[str, Any] = {
        "event_name": event.strip()[:256],
        "customer": customer,
        "data": data,
        "trace_id": span.trace_id,
        "cost_tracing": tracing,
        "timestamp": span.end,
        "idempotency_key": str(key)[:256] if key else f"otlp:{span.trace_id}:{span.span_id}",
    }
    if agent:
        item["agent"] = agent
    return item


def _cost(call: _Call, customer: str | None, agent: str | None) -> dict[str, Any]:
    span = call.span
    key = (
        f"otlp:{span.trace_id}:resp:{call.response_id}"
        if call.response_id
        else f"otlp:{span.trace_id}:{span.span_id}"
    )
    item: dict[str, Any] = {
        "customer": customer,
        "agent": agent,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "response_id": call.response_id,
        "provider": call.provider,
        "model": call.model,
        "operation": call.operation,
        "usage": call.usage or None,
        "timestamp": span.end,
        "idempotency_key": key,
    }
    if call.amount is not None:
        item["amount"], item["currency"] = call.amount, call.currency
    return item


def convert(spans: list[Span], stored: StoredParties) -> Converted:
    """Span rows for every span; cost items for GenAI calls (once per call); signal items."""
    out = Converted()
    by_span: dict[tuple[str, str], Span] = {}
    for span in spans:
        by_span.setdefault((span.trace_id, span.span_id), span)
    # (customer, agent) of each trace: the first of its spans that names one.
    trace_parties: dict[str, list[str | None]] = {}
    calls: list[_Call] = []
    signal_spans: list[Span] = []
    rows = out.span_rows
    for span in by_span.values():
        a = span.attributes
        customer = span.customer = _ref(a, CUSTOMER_KEYS)
        agent = span.agent = _ref(a, AGENT_KEYS)
        if customer or agent:
            known = trace_parties.get(span.trace_id)
            if known is None:
                trace_parties[span.trace_id] = [customer, agent]
            else:
                known[0] = known[0] or customer
                known[1] = known[1] or agent
        layout = _layout(a)
        rows.append(
            (
                span.trace_id,
                span.span_id,
                span.parent_span_id,
                span.name,
                span.kind,
                span.start_ns // 1000,
                span.end_ns // 1000,
                _stored_attributes(a, layout),
                span.status,
            )
        )
        name = span.name
        if (
            name == "margin.signal"
            or layout.signal
            or (layout.paid_signal and name in _PAID_SIGNAL_NAMES)
        ):
            signal_spans.append(span)
            continue
        call = _call(span, layout)
        if call is None:
            continue
        if isinstance(call, str):
            out.rejected.append(call)
        else:
            calls.append(call)
    kept = _dedupe(calls, by_span)
    out.merged = len(calls) - len(kept)
    resources: dict[int, Parties] = {}
    unknown_trace: list[str | None] = [None, None]

    def parties(span: Span) -> Parties:
        customer, agent = span.customer, span.agent
        if customer is None or agent is None:
            res = resources.get(id(span.resource))
            if res is None:
                res = resources[id(span.resource)] = (
                    _ref(span.resource, CUSTOMER_KEYS),
                    _ref(span.resource, AGENT_KEYS),
                )
            customer, agent = customer or res[0], agent or res[1]
            known = trace_parties.get(span.trace_id, unknown_trace)
            customer, agent = customer or known[0], agent or known[1]
        return customer, agent

    found = [parties(call.span) for call in kept]
    unknown = {s.trace_id for s in signal_spans if not parties(s)[0]}
    unknown.update(c.span.trace_id for c, (who, _) in zip(kept, found, strict=True) if not who)
    earlier = stored(unknown) if unknown else {}
    if earlier:
        for trace_id, (customer, agent) in earlier.items():
            known = trace_parties.setdefault(trace_id, [None, None])
            known[0], known[1] = known[0] or customer, known[1] or agent
        found = [parties(call.span) for call in kept]
    for span in signal_spans:
        signal = _signal(span, *parties(span))
        if isinstance(signal, str):
            out.rejected.append(signal)
        elif signal is not None:
            out.signals.append(signal)
    out.costs = [_cost(call, *both) for call, both in zip(kept, found, strict=True)]
    return out
