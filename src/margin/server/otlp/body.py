"""OTLP/HTTP request bodies: inflate (gzip, every member, or deflate; bounded) and parse
(protobuf, OTLP JSON with hex ids and lowerCamelCase keys, or the Margin SDK's span format)
into an ``ExportTraceServiceRequest``."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from margin.sdk import span_batch

__all__ = ["JSON", "PROTOBUF", "SPANS", "OtlpError", "TooLarge", "decode"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: The Margin SDK's span format (``margin.sdk.span_batch``), read into the OTLP request the
#: SDK would have sent for the same spans: one path after decoding for both.
SPANS = span_batch.MEDIA_TYPE
_GZIP, _DEFLATE = 31, 15  # zlib window bits: a gzip member, a zlib stream
_GZIP_MAGIC = b"\x1f\x8b"
#: The first piece of a member's input fed to the inflater, doubled for each further piece:
#: what the inflater holds past the member's end is then at most about the member's size, so
#: a body of many small members is read in time linear in its size.
_FIRST_PIECE = 512


class OtlpError(ValueError):
    """A body that is not a valid ``ExportTraceServiceRequest`` (answered 400)."""

    def __init__(self, detail: str, field: str = "body") -> None:
        super().__init__(detail)
        self.field = field


class TooLarge(ValueError):
    """A compressed body that inflates beyond the size limit (answered 413)."""


def _inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise OtlpError(f"unsupported Content-Encoding '{encoding}'", "content-encoding")
    try:
        return _members(memoryview(body), encoding, max_bytes)
    except zlib.error as exc:
        raise OtlpError(f"body is not valid {encoding}: {exc}") from None


def _members(body: memoryview, encoding: str, max_bytes: int) -> bytes:
    """The inflated body: gzip is a series of members, each inflated, as ``gzip.decompress``
    reads it; deflate is one stream. At most ``max_bytes`` in all, whatever the members."""
    out, at = bytearray(), 0
    while True:
        inflater = zlib.decompressobj(_GZIP if encoding == "gzip" else _DEFLATE)
        piece = _FIRST_PIECE
        while not inflater.eof:
            if at == len(body):
                raise OtlpError(f"body is truncated {encoding} data")
            chunk = body[at : at + piece]
            at, piece = at + len(chunk), piece * 2
            # Output is capped one byte past the limit, so a bomb stops there; input is
            # then left unread, and the body refused.
            out += inflater.decompress(chunk, max_bytes + 1 - len(out))
            if len(out) > max_bytes:
                raise TooLarge(f"decompressed body exceeds {max_bytes} bytes")
        at -= len(inflater.unused_data)
        if at == len(body):
            return bytes(out)
        if encoding != "gzip" or body[at : at + 2] != _GZIP_MAGIC:
            what = "a gzip member" if encoding == "gzip" else "deflate data"
            raise OtlpError(f"body has bytes after the end of its {encoding} data: not {what}")


def _snake_names(message: Descriptor, found: dict[str, str], seen: set[str]) -> dict[str, str]:
    """Each field's proto name that differs from its JSON name, in ``message`` and the
    messages it holds: name → JSON name."""
    if message.full_name not in seen:
        seen.add(message.full_name)
        for item in message.fields:
            if item.name != item.json_name:
                found[item.name] = item.json_name
            if item.message_type is not None:
                _snake_names(item.message_type, found, seen)
    return found


#: OTLP/JSON keys are the fields' lowerCamelCase JSON names; their proto names "are not valid
#: to use as keys" (the OTLP specification), though protobuf's JSON parser would take them.
_SNAKE = _snake_names(ExportTraceServiceRequest.DESCRIPTOR, {}, set())


def _snake_key(value: Any) -> list[str] | None:
    """The path to the first key of ``value`` that is a proto field name, innermost first."""
    if type(value) is dict:
        for key, item in value.items():
            if key in _SNAKE:
                return [key]
            if type(item) is dict or type(item) is list:
                found = _snake_key(item)
                if found is not None:
                    found.append(key)
                    return found
    elif type(value) is list:
        for index, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                found = _snake_key(item)
                if found is not None:
                    found.append(str(index))
                    return found
    return None


def _refuse_snake_keys(data: dict[str, Any]) -> None:
    path = _snake_key(data)
    if path is not None:
        key, where = path[0], ".".join(reversed(path))
        raise OtlpError(
            f"OTLP/JSON keys are lowerCamelCase: '{key}' must be '{_SNAKE[key]}'", where
        )


def _hex_to_b64(obj: dict[str, Any], key: str, where: str) -> None:
    value = obj.get(key)
    if value in (None, ""):
        return
    try:
        obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
    except (TypeError, ValueError):
        raise OtlpError(f"{where}.{key} must be a hex string", f"{where}.{key}") from None


def _from_json(body: bytes) -> ExportTraceServiceRequest:
    """OTLP JSON: like protobuf's JSON mapping, except that ids are hex, not base64, and
    keys are only the lowerCamelCase names."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpError("body must be a JSON object (ExportTraceServiceRequest)")
    try:
        _refuse_snake_keys(data)
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
    except (ParseError, AttributeError, TypeError, RecursionError) as exc:
        raise OtlpError(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from None


def decode(
    body: bytes, media_type: str, encoding: str, max_bytes: int
) -> ExportTraceServiceRequest:
    """Parse an export body of ``media_type`` (protobuf, JSON or ``SPANS``), inflating
    gzip/deflate."""
    raw = _inflate(body, encoding.strip().lower(), max_bytes)
    if media_type == JSON:
        return _from_json(raw)
    if media_type == SPANS:
        try:
            raw = span_batch.otlp_request(raw)
        except span_batch.FormatError as exc:
            raise OtlpError(exc.detail, exc.field) from None
    try:
        message = ExportTraceServiceRequest()
        message.ParseFromString(raw)
        return message
    except DecodeError as exc:
        raise OtlpError(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from None
