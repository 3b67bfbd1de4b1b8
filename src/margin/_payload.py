"""What JSON Margin accepts and stores, the same on SQLite and PostgreSQL.

PostgreSQL cannot hold NUL (U+0000) in text or JSONB, a lone UTF-16 surrogate is not text at
all, the JSON encoder stops at 255 levels of nesting and at 64-bit integers, a non-finite
number has no JSON form, and JSONB has no negative zero. So every JSON document an API
caller sends (an ingest item, a customer's metadata) is checked once, here, before anything
is stored: what either store could not keep exactly is refused with the path of the
offending value, on both stores.

Numbers are never rounded on the way in: ``parse_json`` reads a number that no 64-bit float
holds as written either as the exact ``Decimal`` (for a field that reads amounts) or not at
all, and ``check_json`` turns such a ``Decimal`` into the float that holds it, or refuses it.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import orjson

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "MIN_INT",
    "PayloadError",
    "canonical_json",
    "check_json",
    "check_text",
    "parse_json",
    "stored_as_encoded",
    "stored_json",
]

#: The deepest nesting of objects and arrays in one item or body (the item itself counts).
MAX_DEPTH = 32
#: The range of integers kept exactly (signed 64-bit).
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1


class PayloadError(ValueError):
    """A JSON value Margin cannot store as sent; ``field`` is its dotted path."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


def _refuse_constant(name: str) -> Any:
    raise PayloadError("body", f"{name} is not a JSON number")


def _too_precise(text: str, field: str) -> PayloadError:
    return PayloadError(
        field,
        f"the number {text[:40]} has more digits than a JSON number carries exactly (a "
        "64-bit float): send it as a decimal string",
    )


def _float_of(number: float, sent: Decimal) -> bool:
    """Whether ``number`` is the float an encoder writes as ``sent``: its shortest repr, or
    its 17 significant digits (what some encoders write for every float)."""
    return sent == Decimal(repr(number)) or sent == Decimal(format(number, ".17g"))


def _exact_float(text: str) -> float:
    """A JSON number with a fraction or an exponent as the float that holds it exactly (see
    ``_float_of``). A number with more digits than that is refused: read as a float it would
    be rounded, silently, an amount of money among others."""
    number = float(text)
    if repr(number) == text or not math.isfinite(number):
        return number
    if not _float_of(number, Decimal(text)):
        raise _too_precise(text, "body")
    return number


def _float_or_decimal(text: str) -> float | Decimal:
    """A JSON number with a fraction or an exponent as a float where the float's shortest
    repr is the number written (``2.50`` and ``25e-1`` are 2.5), else as the exact
    ``Decimal``: more digits than a float holds, a 17-digit form, ``1e-400``, ``1e400``."""
    number = float(text)
    if repr(number) == text:
        return number
    sent = Decimal(text)
    if math.isfinite(number) and sent == Decimal(repr(number)):
        return number
    return sent


def parse_json(raw: bytes | str, *, decimals: bool = False) -> Any:
    """Parse a request body: integers exactly (the standard parser keeps every digit, where a
    fast parser turns a large integer into an inexact float), ``NaN``/``Infinity`` refused.
    A number with a fraction or an exponent is a float where a float holds it exactly;
    another is refused. Raises ``PayloadError`` (field ``body``) for anything that is not
    such JSON.

    With ``decimals``, such a number, and ``NaN``/``Infinity``, are read as a ``Decimal``
    instead, for the field they reach to decide: ``check_json`` refuses a non-finite one by
    its path, an amount keeps it exactly, and elsewhere it becomes the float an encoder
    writes that way, or is refused."""
    if decimals:
        parse_float: Any = _float_or_decimal
        parse_constant: Any = Decimal
    else:
        parse_float, parse_constant = _exact_float, _refuse_constant
    try:
        return json.loads(raw, parse_float=parse_float, parse_constant=parse_constant)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError("body", f"JSON is nested more than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError("body", f"body is not valid JSON: {exc}") from None


def check_text(value: str, field: str) -> None:
    """Refuse text that a store cannot hold: NUL, or a lone surrogate (not Unicode text)."""
    if "\x00" in value:
        raise PayloadError(field, "text must not contain the NUL character (U+0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError(field, "text must be valid Unicode (no lone surrogate)") from None


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def check_json(value: Any, path: str = "", depth: int = 0, *, exact: bool = False) -> Any:
    """Check a parsed JSON value (an item, or a free-form field at ``path``): its text and
    keys (``check_text``), its nesting (at most ``MAX_DEPTH`` levels), its integers (signed
    64-bit) and its numbers (finite). Raises ``PayloadError`` naming the first bad value.

    Returns the value as a store keeps it: a negative zero as zero (JSONB has none), and each
    ``Decimal`` (a number ``parse_json`` read exactly) as the float an encoder writes that
    way, refused when there is none (it would be rounded). With ``exact``, a ``Decimal`` is
    kept for the field's own validation to read as an amount (within 64 bits)."""
    return _walk(value, path, depth, exact)


def canonical_json(item: dict[str, Any], free_form: tuple[str, ...]) -> bytes:
    """An item's canonical JSON (keys sorted; what its content digest is taken of), once
    ``check_json`` would pass it (else ``PayloadError`` from it, naming the field).

    The per-item path of every ingest. The encoder itself refuses lone surrogates and
    integers past 64 bits, and writes NUL as ``\\u0000`` (one search finds it); the item's
    model types its other fields, so only its ``free_form`` fields (``data``…) are walked
    in Python, for nesting and numbers. The full walk runs for an item found bad."""
    try:
        dumped: bytes | None = orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str)
    except orjson.JSONEncodeError:
        dumped = None
    if dumped is None or b"\\u0000" in dumped or not _free_form_sound(item, free_form):
        _walk(item, "", 0)
    if dumped is None:  # pragma: no cover - the walk refuses whatever the encoder does
        raise PayloadError("body", "the item cannot be stored as JSON")
    return dumped


def _free_form_sound(item: dict[str, Any], free_form: tuple[str, ...]) -> bool:
    for name in free_form:
        value = item.get(name)
        if (value.__class__ is dict or value.__class__ is list) and not _numbers_and_nesting(
            value, 2
        ):
            return False
    return True


def _numbers_and_nesting(value: dict[str, Any] | list[Any], depth: int) -> bool:
    """Whether a container at nesting ``depth`` holds only storable numbers and nests no
    deeper than ``MAX_DEPTH`` (text is the encoder's to check)."""
    if depth > MAX_DEPTH:
        return False
    values: Any = value.values() if isinstance(value, dict) else value
    for item in values:
        kind = item.__class__
        if kind is int:
            if not MIN_INT <= item <= MAX_INT:
                return False
        elif kind is dict or kind is list:
            if not _numbers_and_nesting(item, depth + 1):
                return False
        elif kind is float and not math.isfinite(item):
            return False
    return True


def _walk(value: Any, path: str, depth: int, exact: bool = False) -> Any:
    """``check_json``'s walk, naming the first bad value's path; a container is copied only
    where one of its values changes."""
    kind = value.__class__
    if kind is str:
        check_text(value, path or "body")
    elif kind is dict or kind is list:
        depth += 1
        if depth > MAX_DEPTH:
            raise PayloadError(path or "body", f"JSON is nested more than {MAX_DEPTH} levels")
        if kind is list:
            return _walk_list(value, path, depth, exact)
        out = value
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(path or "body", "object keys must be strings")
            try:
                check_text(key, path or "body")
            except PayloadError as exc:
                shown = json.dumps(key)
                raise PayloadError(exc.field, f"key {shown}: {exc.detail}") from None
            read = _walk(item, _join(path, key), depth, exact)
            if read is not item:
                out = dict(value) if out is value else out
                out[key] = read
        return out
    elif kind is int:
        if not MIN_INT <= value <= MAX_INT:
            raise PayloadError(path or "body", "integer is outside the signed 64-bit range")
    elif kind is float:
        if not math.isfinite(value):
            raise PayloadError(path or "body", "number must be finite")
        if value == 0 and math.copysign(1.0, value) < 0:
            return 0.0
    elif kind is Decimal:
        return _decimal(value, path or "body", exact)
    # None, booleans, and objects that are not parsed JSON (a datetime from the OTLP
    # converter): nothing to check here; the item's model decides about the latter.
    return value


def _walk_list(value: list[Any], path: str, depth: int, exact: bool) -> list[Any]:
    out = value
    for index, item in enumerate(value):
        read = _walk(item, _join(path, index), depth, exact)
        if read is not item:
            out = list(value) if out is value else out
            out[index] = read
    return out


def _decimal(value: Decimal, path: str, exact: bool) -> Decimal | float:
    """A number no float holds as written (see ``parse_json``): kept ``exact`` within 64
    bits, else the float an encoder writes that way, else refused."""
    if not value.is_finite():
        raise PayloadError(path, "number must be finite")
    if exact:
        if MIN_INT <= value <= MAX_INT:
            return value
        raise PayloadError(path, "number is outside the signed 64-bit range")
    number = float(value)
    if not math.isfinite(number):
        raise PayloadError(path, "number must be finite")
    if not _float_of(number, value):
        raise _too_precise(str(value), path)
    return number + 0.0  # a negative zero as zero


#: What ``orjson`` writes of a float that JSONB keeps in another form: a negative zero (JSONB
#: has none), and an exponent (JSONB writes the digits out, which read back as an integer).
_NEGATIVE_ZERO, _EXPONENT = b"-0.0", b"e+"
#: Floats from here up are written by the encoder with an exponent, and are whole numbers.
_WRITTEN_WITH_EXPONENT = 1e16


def stored_json(value: Any) -> bytes:
    """``orjson.dumps(value)`` as a JSON column holds it on every store: in a form SQLite
    keeps as written and PostgreSQL reads back alike. A negative zero is written ``0.0``,
    and a float of 1e16 or more (a whole number) by its digits and ``.0``. Raises
    ``orjson.JSONEncodeError`` as ``orjson.dumps`` does."""
    text = orjson.dumps(value)
    return text if stored_as_encoded(text) else orjson.dumps(_jsonb_forms(value))


def stored_as_encoded(text: bytes) -> bool:
    """Whether ``orjson.dumps``' ``text`` is what ``stored_json`` writes of the same value:
    no float in a form JSONB keeps otherwise (the common case; one search each, and text
    that only spells one out is written again, the same)."""
    return _NEGATIVE_ZERO not in text and _EXPONENT not in text


def _jsonb_forms(value: Any) -> Any:
    """``value`` with its floats in the forms ``stored_json`` writes (containers copied)."""
    kind = value.__class__
    if kind is float:
        if value == 0:
            return 0.0
        if abs(value) >= _WRITTEN_WITH_EXPONENT and math.isfinite(value):
            return orjson.Fragment(f"{int(value)}.0")
        return value
    if kind is dict:
        return {key: _jsonb_forms(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_jsonb_forms(item) for item in value]
    return value
