"""Margin's span format: a batch of recorded spans as one JSON document for ``/v1/traces``.

The SDK queues each span it ends as a ``_record`` tuple of plain values. OTLP protobuf is
written from it field by field in Python; this format is the records as they are, written
by one ``orjson`` call for the whole batch, so the delivery thread does next to no Python
per span. The server reads a body back into the same records and writes from them the
OTLP request the SDK would have sent (``otlp_request``): everything after decoding is one
path for both formats, and a test holds the two byte for byte.

A body (``MEDIA_TYPE``, usually gzip) is ``{"version": 1, "origins": {...}, "spans": [...]}``:

- ``origins`` maps an index (as text) to ``[resource attribute keys, their values, resource
  schema URL, scope name, scope version, scope schema URL, scope attribute keys, values]``;
- each span is the 16 fields of a record, in order: origin, name, trace id (high and low
  64 bits), span id, parent span id (0: a root), whether the parent is remote, trace state
  (its header text, or ""), kind, start and end (ns since 1970), attribute keys, their values
  (text, number, bool, or an array of them), status (0 unset, else [code, description]),
  whether prompts were kept, and how many first attributes the span started with.

A batch holding anything else (a span object with events, a float that is not finite, None
in an array, an int past 64 bits) is sent as OTLP instead: ``encode`` answers None.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, Status, StatusCode, TraceState

from margin.sdk import _record

__all__ = ["MEDIA_TYPE", "VERSION", "FormatError", "as_otlp", "encode", "otlp_request", "split"]

MEDIA_TYPE = "application/vnd.margin.spans+json"
VERSION = 1

_KEYS = itemgetter(_record.KEYS)
_ORIGIN = itemgetter(_record.ORIGIN)
_U64 = 1 << 64
_KINDS = frozenset(kind.value for kind in SpanKind)
_STATUS_CODES = {code.value: code for code in StatusCode}
_SCALARS = (str, int, float, bool)


# -- writing (the SDK's delivery thread) ----------------------------------------------------


def _default(value: Any) -> Any:
    """The two objects a record may hold: a trace state and a status."""
    if isinstance(value, TraceState):
        return value.to_header()
    if isinstance(value, Status):
        return [value.status_code.value, value.description or ""]
    raise TypeError


def _attributes(attributes: Any) -> tuple[list[str], list[Any]]:
    items = dict(attributes or {})
    return list(items), list(items.values())


# An origin's fields, by its index in ``_record.ORIGINS`` (whose entries never change).
_origins: dict[int, list[Any]] = {}


def _origin(index: int) -> list[Any]:
    found = _origins.get(index)
    if found is None:
        resource, scope = _record.ORIGINS[index]
        found = [
            *_attributes(resource.attributes),
            resource.schema_url or "",
            scope.name if scope else "",
            (scope.version if scope else None) or "",
            (scope.schema_url if scope else None) or "",
            *_attributes(getattr(scope, "attributes", None)),
        ]
        _origins[index] = found
    return found


def _without_private(record: tuple[Any, ...], private: Callable[[str], bool]) -> tuple[Any, ...]:
    """The record without its private attributes, unless its trace scope kept them."""
    keys = record[_record.KEYS]
    if record[_record.KEEPS_PROMPT] or not any(map(private, keys)):
        return record
    started = record[_record.STARTED]
    kept = [i for i, key in enumerate(keys) if not private(key)]
    values = record[_record.VALUES]
    return (
        *record[: _record.KEYS],
        tuple(keys[i] for i in kept),
        tuple(values[i] for i in kept),
        *record[_record.STATUS : _record.STARTED],
        sum(1 for i in kept if i < started),
    )


def encode(spans: Sequence[Any], private: Callable[[str], bool]) -> bytes | None:
    """The gzipped body of ``spans`` without the attributes whose key is ``private`` (unless
    their trace scope kept them), or None when the batch must go as OTLP (see above)."""
    if not spans or set(map(type, spans)) != {tuple}:
        return None
    records = spans
    if any(map(private, {key for keys in set(map(_KEYS, spans)) for key in keys})):
        records = [_without_private(record, private) for record in spans]
    origins = {str(index): _origin(index) for index in set(map(_ORIGIN, records))}
    try:
        # One call for the batch: bench/sdk_overhead.py --mode openai, delivery thread 20.9 ->
        # 13.6 µs a call (10 interleaved runs).
        body = orjson.dumps(
            {"version": VERSION, "origins": origins, "spans": records}, default=_default
        )
    except (TypeError, orjson.JSONEncodeError):  # an int past 64 bits, a lone surrogate
        return None
    # A float that is not finite, or None in an array (or text that spells it): one search
    # of the body for the common case.
    if b"null" in body and (b",null" in body or b"[null" in body):
        return None
    return gzip.compress(body, compresslevel=1)


def split(payload: bytes) -> tuple[tuple[int, bytes], tuple[int, bytes]] | None:
    """The two halves of a gzipped body, each with its span count; None for fewer than two
    spans."""
    data = orjson.loads(gzip.decompress(payload))
    spans = data["spans"]
    if not isinstance(spans, list) or len(spans) < 2:
        return None
    half = len(spans) // 2
    return _part(data, spans[:half]), _part(data, spans[half:])


def _part(data: dict[str, Any], spans: list[Any]) -> tuple[int, bytes]:
    body = orjson.dumps({**data, "spans": spans})
    return len(spans), gzip.compress(body, compresslevel=1)


# -- reading (the server, and the SDK for a server that only takes OTLP) ---------------------


class FormatError(ValueError):
    """A body that is not a batch of this format; ``field`` names the part at fault."""

    def __init__(self, detail: str, field: str = "body") -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


def _text(value: Any, field: str) -> str:
    if type(value) is not str:
        raise FormatError(f"{field} must be a string", field)
    return value


def _u64(value: Any, field: str) -> int:
    if type(value) is not int or not 0 <= value < _U64:
        raise FormatError(f"{field} must be an integer from 0 to 2^64-1", field)
    return value


def _flag(value: Any, field: str) -> bool:
    if type(value) is not bool:
        raise FormatError(f"{field} must be true or false", field)
    return value


def _value(value: Any, field: str) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if type(value) is list and all(isinstance(item, _SCALARS) for item in value):
        return tuple(value)
    raise FormatError(f"{field} must be text, a number, a bool or an array of them", field)


def _pairs(keys: Any, values: Any, field: str) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    if type(keys) is not list or type(values) is not list:
        raise FormatError(f"{field} keys and values must be arrays", field)
    if len(keys) != len(values):
        raise FormatError(f"{field} must have as many values as keys", field)
    return (
        tuple(_text(key, f"{field}.keys.{i}") for i, key in enumerate(keys)),
        tuple(_value(value, f"{field}.values.{i}") for i, value in enumerate(values)),
    )


def _read_origins(raw: Any) -> tuple[dict[str, int], list[tuple[Resource, InstrumentationScope]]]:
    if type(raw) is not dict:
        raise FormatError("origins must be an object", "origins")
    index: dict[str, int] = {}
    origins: list[tuple[Resource, InstrumentationScope]] = []
    for key, fields in raw.items():
        where = f"origins.{key}"
        if type(fields) is not list or len(fields) != 8:
            raise FormatError(f"{where} must be an array of 8 fields", where)
        keys, values = _pairs(fields[0], fields[1], f"{where}.resource")
        resource = Resource(dict(zip(keys, values, strict=True)), _text(fields[2], where) or None)
        scope_keys, scope_values = _pairs(fields[6], fields[7], f"{where}.scope")
        scope = InstrumentationScope(
            _text(fields[3], f"{where}.name"),
            _text(fields[4], f"{where}.version") or None,
            _text(fields[5], f"{where}.schema_url") or None,
            dict(zip(scope_keys, scope_values, strict=True)) or None,
        )
        index[key] = len(origins)
        origins.append((resource, scope))
    return index, origins


def _read_span(raw: Any, where: str, origins: dict[str, int]) -> tuple[Any, ...]:
    if type(raw) is not list or len(raw) != _record.FIELDS:
        raise FormatError(f"{where} must be an array of {_record.FIELDS} fields", where)
    (origin, name, trace_hi, trace_lo, span_id, parent_id, remote, state, kind, start, end,
     keys, values, status, keeps, started) = raw  # fmt: skip
    if type(origin) is not int or str(origin) not in origins:
        raise FormatError(f"{where}.origin must be an index in origins", f"{where}.origin")
    if type(kind) is not int or kind not in _KINDS:
        raise FormatError(f"{where}.kind must be a SpanKind value (0-4)", f"{where}.kind")
    keys, values = _pairs(keys, values, f"{where}.attributes")
    if type(started) is not int or not 0 <= started <= len(keys):
        raise FormatError(f"{where}.started must be 0 to the number of keys", f"{where}.started")
    if status != 0:
        if (
            type(status) is not list
            or len(status) != 2
            or type(status[0]) is not int
            or status[0] not in _STATUS_CODES
            or type(status[1]) is not str
        ):
            detail = f"{where}.status must be 0 or [code (0-2), description]"
            raise FormatError(detail, f"{where}.status")
        status = Status(_STATUS_CODES[status[0]], status[1] or None)
    state = _text(state, f"{where}.trace_state")
    return (
        origins[str(origin)],
        _text(name, f"{where}.name"),
        _u64(trace_hi, f"{where}.trace_hi"),
        _u64(trace_lo, f"{where}.trace_lo"),
        _u64(span_id, f"{where}.span_id"),
        _u64(parent_id, f"{where}.parent_id"),
        _flag(remote, f"{where}.parent_remote"),
        TraceState.from_header([state]) if state else "",
        kind,
        _u64(start, f"{where}.start"),
        _u64(end, f"{where}.end"),
        keys,
        values,
        status,
        _flag(keeps, f"{where}.keeps_prompt"),
        started,
    )


def otlp_request(body: bytes) -> bytes:
    """The serialised OTLP ``ExportTraceServiceRequest`` of an (inflated) body of this
    format: what the SDK would have sent as OTLP for the same records. Raises
    ``FormatError`` naming the field at fault."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"body is not valid JSON: {exc}") from None
    if type(data) is not dict:
        raise FormatError("body must be a JSON object")
    if data.get("version") != VERSION or type(data.get("version")) is not int:
        raise FormatError(f"version must be {VERSION}", "version")
    unknown = sorted(set(data) - {"version", "origins", "spans"})
    if unknown:
        raise FormatError(f"unexpected field '{unknown[0]}'", unknown[0])
    index, origins = _read_origins(data.get("origins"))
    spans = data.get("spans")
    if type(spans) is not list:
        raise FormatError("spans must be an array", "spans")
    records = [_read_span(raw, f"spans.{i}", index) for i, raw in enumerate(spans)]
    # Imported here: ``_wire`` reuses OpenTelemetry's private helpers, and the SDK must import
    # (and fall back to OTLP from span objects) should a release move them.
    from margin.sdk._wire import encode_request

    return encode_request(records, origins=origins)


def as_otlp(payload: bytes) -> bytes:
    """A gzipped body of this format as the gzipped OTLP body of the same spans."""
    return gzip.compress(otlp_request(gzip.decompress(payload)), compresslevel=1)
