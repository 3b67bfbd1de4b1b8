"""Exact money: Decimal in Python, integer nano-units in storage, decimal strings on the wire."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Context, Decimal

__all__ = [
    "NANO",
    "MoneyError",
    "format_decimal",
    "from_nanos",
    "parse_amount",
    "storable_amount",
    "to_nanos",
]

#: One nano-unit (10⁻⁹ of a currency unit): the storage resolution of every amount.
NANO = Decimal("0.000000001")
_NANOS_PER_UNIT = 1_000_000_000
# The largest amount one stored record may hold (a signed 64-bit count of nano-units).
_MAX_NANOS = 2**63 - 1
# Past this many digits before the point no amount fits: refused before any arithmetic, so an
# exponent like 1e999999 is "too large" rather than an overflow of the decimal context.
_MAX_ADJUSTED = 18
# A decimal number in ASCII: Decimal() alone also takes "1_000", " 5", "١٢" and "Infinity".
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class MoneyError(ValueError):
    """An amount that is not a finite decimal, or too large to store exactly."""


def to_nanos(amount: Decimal) -> int:
    """Convert an amount to integer nano-units, rounding half-even at the ninth decimal."""
    if not amount.is_finite():
        raise MoneyError("amount must be a finite number")
    if amount and amount.adjusted() > _MAX_ADJUSTED:
        raise MoneyError("amount is too large")
    nanos = int((amount * _NANOS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_EVEN))
    if abs(nanos) > _MAX_NANOS:
        raise MoneyError("amount is too large")
    return nanos


def from_nanos(nanos: int) -> Decimal:
    """The exact Decimal amount of a count of nano-units."""
    return (Decimal(nanos) / _NANOS_PER_UNIT).quantize(NANO)


def format_decimal(value: Decimal) -> str:
    """A plain decimal string (no exponent, trailing zeros removed, at least one digit)."""
    if value == 0:
        return "0"
    # normalize() rounds to the context's precision (28 digits): give it every digit.
    digits = max(len(value.as_tuple().digits), 28)
    return format(value.normalize(Context(prec=digits)), "f")


def parse_amount(value: object) -> Decimal:
    """Parse a JSON amount (a decimal string or an integer) into a finite Decimal.

    Strings are ASCII decimals (``"12"``, ``"-0.5"``, ``"1e-7"``): no spaces, underscores,
    other digits or words. A float (a JSON number with a fraction, where the body was not
    parsed exactly) is read by its shortest repr.
    """
    if isinstance(value, bool) or value is None:
        raise MoneyError("amount must be a decimal string or an integer")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # JSON numbers with a fraction arrive as float; their shortest repr is what was sent.
        value = repr(value)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        if _DECIMAL.fullmatch(value) is None:
            raise MoneyError(f"{value[:40]!r} is not a decimal number")
        result = Decimal(value)
    else:
        raise MoneyError("amount must be a decimal string or an integer")
    if not result.is_finite():
        raise MoneyError("amount must be a finite number")
    return result


def storable_amount(value: object, name: str = "amount") -> Decimal:
    """Parse an amount that must be non-negative and fit in storage; raises ``ValueError``
    (for pydantic validators) naming the field."""
    try:
        amount = parse_amount(value)
        if amount < 0:
            raise MoneyError(f"{name} must not be negative")
        to_nanos(amount)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return amount
