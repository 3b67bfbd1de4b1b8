"""The attributes of OTLP spans as protobuf wire bytes, for ``_wire``.

Spans repeat most of their attributes (customer, agent, provider, model, token counts), so
each attribute is serialised once by protobuf itself and its bytes are reused; the
attributes a recorded span started with are reused as one block."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from struct import Struct
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from margin import semconv
from margin.sdk import _otel
from margin.sdk._bounded import keep

__all__ = ["attributes", "field", "record_attributes", "varint"]

_logger = logging.getLogger("margin")
# Raises ImportError if a release moved them: ``payloads`` then uses the public encoder.
_encoders = _otel.wire_encoders()
_DOUBLE = Struct("<d").pack
_ATTRIBUTE = b"\x4a"  # Span field 9

_small_varints = [bytes([n]) for n in range(128)]


def varint(n: int) -> bytes:
    if n < 128:
        return _small_varints[n]
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


# Serialised KeyValue bytes (with their field tag) by (key, type, value): the type keeps True
# apart from 1. Tuples (finish reasons) are cached too; long strings are not.
_kv_cache: dict[tuple[str, type, Any], bytes] = {}
_KV_CACHE_MAX = 8192
_LONG = 256
# Values of these differ on every span: caching them would only evict the ones that repeat.
_UNIQUE = frozenset(
    {
        semconv.RESPONSE_ID,
        semconv.SIGNAL_IDEMPOTENCY_KEY,
        semconv.SIGNAL_DATA,
        "exception.stacktrace",
    }
)


def _keyable(value: Any) -> bool:
    """Whether every value equal to this one, of its type, encodes as it does: not a float
    zero (0.0 == -0.0) nor a tuple of other than text ((1,) == (True,) == (1.0,)). Others
    are encoded each time: a cache keyed by them would answer with an equal value's bytes."""
    kind = type(value)
    if kind is float:
        return bool(value != 0.0)
    if kind is tuple:
        return all(type(item) is str for item in value)
    return True


def _serialise(key: str, value: Any) -> bytes:
    kind = type(value)
    any_value: bytes
    if kind is str:
        data = value.encode()
        any_value = b"\x0a" + varint(len(data)) + data
    elif kind is int and 0 <= value < 1 << 63:
        any_value = b"\x18" + varint(value)
    elif kind is bool:
        any_value = b"\x10\x01" if value else b"\x10\x00"
    elif kind is float:
        any_value = b"\x21" + _DOUBLE(value)
    else:
        encoded: bytes = KeyValue(key=key, value=_encoders.value(value)).SerializeToString()
        return encoded
    name = key.encode()
    head = b"\x0a" + varint(len(name)) + name if name else b""
    return head + b"\x12" + varint(len(any_value)) + any_value


def attributes(
    attributes: Mapping[str, Any] | None, private: Callable[[str], bool] | None
) -> list[bytes]:
    if not attributes:
        return []
    return _items(_otel.attribute_items(attributes), private)


def _items(items: Iterable[tuple[str, Any]], private: Callable[[str], bool] | None) -> list[bytes]:
    out: list[bytes] = []
    cache, get = _kv_cache, _kv_cache.get
    for key, value in items:
        if private is not None and private(key):
            continue
        kind = type(value)
        cache_key = (key, kind, value)
        try:
            encoded = get(cache_key)
        except TypeError:  # unhashable: a list
            encoded = None
            cache_key = None  # type: ignore[assignment]
        if encoded is None:
            try:
                encoded = field(_ATTRIBUTE, _serialise(key, value))
            except Exception as error:  # as OpenTelemetry's encoder: skip the bad attribute
                _logger.exception("Failed to encode key %s: %s", key, error)
                continue
            if (
                cache_key is not None
                and len(encoded) <= _LONG
                and key not in _UNIQUE
                and _keyable(value)
            ):
                keep(cache, cache_key, encoded, _KV_CACHE_MAX)
        out.append(encoded)
    return out


# The field bytes of the attributes a span started with (its call's fixed ones and its
# trace scope's), by (keys, values, their types, filtered): they repeat from call to call,
# so a span's first attributes are one lookup instead of one each.
# With the record's one-call ids, times and name (bench/sdk_overhead.py --mode warm's spans:
# 3.5 → 2.4 µs CPU a span to encode; the bench: +23.1 → +18.4 µs CPU a call).
_block_cache: dict[tuple[Any, ...], bytes] = {}
_BLOCK_CACHE_MAX = 4096


def record_attributes(
    keys: tuple[str, ...],
    values: tuple[Any, ...],
    started: int,
    private: Callable[[str], bool] | None,
) -> list[bytes]:
    """The attributes of a record: the ``started`` first ones as one cached block."""
    if not started:
        return _items(zip(keys, values, strict=True), _filter(keys, private))
    head_keys, head_values = keys[:started], values[:started]
    # (Not ``tuple(map(...))``: that takes a 10-tuple from the free list and gives back a
    # shorter one, and each tuple then allocated new counts towards a garbage collection.)
    block_key = (head_keys, head_values, (*map(type, head_values),), private)
    try:
        block = _block_cache.get(block_key)
    except TypeError:  # an unhashable value
        return _items(zip(keys, values, strict=True), _filter(keys, private))
    if block is None:
        block = b"".join(_items(zip(head_keys, head_values, strict=True), private))
        if len(block) <= _LONG * 8 and all(map(_keyable, head_values)):
            keep(_block_cache, block_key, block, _BLOCK_CACHE_MAX)
    if len(keys) == started:
        return [block]
    out = _items(zip(keys[started:], values[started:], strict=True), _filter(keys, private))
    out.insert(0, block)
    return out


# Whether any of a record's keys is private, by (keys, private): most spans have no prompt
# key, and their attributes then need no test each.
_filters: dict[tuple[Any, ...], bool] = {}


def _filter(
    keys: tuple[str, ...], private: Callable[[str], bool] | None
) -> Callable[[str], bool] | None:
    """``private``, or None when no key of ``keys`` is private."""
    if private is None:
        return None
    found = _filters.get((keys, private))
    if found is None:
        found = keep(_filters, (keys, private), any(private(key) for key in keys), _BLOCK_CACHE_MAX)
    return private if found else None
