"""JSON for each value of a batch from one encoder call: the encoder's output for a value
inside a list is the same as for the value alone, so the list's output, split between
values, is each value's, byte for byte. One call costs about what one value does; a
thousand calls, a thousand times that."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import orjson

from margin._payload import stored_as_encoded, stored_json

__all__ = ["encode_each", "json_texts"]

#: Stands between the values of a batch: a string no value holds (if one did, the output
#: would split into too many parts, and the values would be encoded one by one).
_SPLIT = f"margin-split-{os.urandom(16).hex()}"
_SEPARATOR = f',"{_SPLIT}",'


def _encoded(values: list[Any], option: int, default: Callable[[Any], Any] | None) -> bytes:
    mixed: list[Any] = [_SPLIT] * (2 * len(values) - 1)
    mixed[::2] = values
    return orjson.dumps(mixed, option=option, default=default)[1:-1]


def encode_each(values: list[Any], option: int) -> list[bytes] | None:
    """``orjson.dumps(value, option=option, default=str)`` of each value, from one call;
    None when the list does not encode (the values must then be encoded one by one)."""
    if not values:
        return []
    try:
        parts = _encoded(values, option, str).split(_SEPARATOR.encode())
    except orjson.JSONEncodeError:
        return None
    return parts if len(parts) == len(values) else None


def json_texts(values: list[Any]) -> list[str]:
    """Each value as ``stored_json(value).decode()`` writes it (what a JSON column holds)."""
    if len(values) > 1:
        try:
            whole = _encoded(values, 0, None)
        except orjson.JSONEncodeError:
            whole = b""
        texts = whole.decode().split(_SEPARATOR)
        if len(texts) == len(values):
            if stored_as_encoded(whole):
                return texts
            return [  # only the values that hold such a float are written again
                text if stored_as_encoded(text.encode()) else _stored(value)
                for text, value in zip(texts, values, strict=True)
            ]
    return [_stored(value) for value in values]


def _stored(value: Any) -> str:
    return stored_json(value).decode()
