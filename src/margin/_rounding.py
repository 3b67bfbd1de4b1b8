"""Money as people see and pay it: the currency's minor unit (cents for USD, none for JPY,
fils for KWD), rounding to it, allocating an amount over parts exactly, and display text.

One rounding rule everywhere: half-even (banker's rounding) to the minor unit. Minor units
come from the ISO 4217 table (``margin._currency``); a code the table does not know, or
one without a minor unit (XAU), is taken to have two decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

from margin._currency import minor_units
from margin._money import format_decimal

__all__ = [
    "allocate",
    "display",
    "minor_digits",
    "nanos_per_minor",
    "round_minor",
    "to_minor",
]

_NANO_DIGITS = 9


@cache
def minor_digits(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (USD 2, JPY 0, KWD 3)."""
    digits = minor_units(currency)
    return 2 if digits is None else min(int(digits), _NANO_DIGITS)


def nanos_per_minor(currency: str) -> int:
    """How many nano-units one minor unit holds (10⁷ for cents)."""
    return int(10 ** (_NANO_DIGITS - minor_digits(currency)))


def round_minor(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-even to the minor unit of ``currency``."""
    return amount.quantize(Decimal(1).scaleb(-minor_digits(currency)), rounding=ROUND_HALF_EVEN)


def to_minor(amount: Decimal, currency: str) -> int:
    """``amount`` as a whole number of minor units, rounded half-even."""
    return int(round_minor(amount, currency).scaleb(minor_digits(currency)))


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split the integer ``total`` over parts in proportion to ``weights``, exactly.

    Part k gets ``⌊total·Cₖ/W⌋ − ⌊total·Cₖ₋₁/W⌋`` where ``Cₖ`` is the running sum of the
    weights and ``W`` their sum, so the parts add up to ``total``, and any run of consecutive
    parts gets a share that depends only on the running sums at its two ends. With no
    weight (W = 0) everything goes to the last part.
    """
    if not weights:
        return []
    whole = sum(weights)
    if whole == 0:
        return [0] * (len(weights) - 1) + [total]
    out = []
    running = before = 0
    for weight in weights:
        running += weight
        upto = total * running // whole
        out.append(upto - before)
        before = upto
    return out


def display(amount: Decimal | None, currency: str | None) -> str:
    """Text for people: grouped digits rounded to the minor unit and the currency code
    (``1,513.00 USD``); an amount that rounds to zero but is not zero reads ``< 0.01 USD``;
    None reads ``—``."""
    if amount is None:
        return "—"
    if currency is None:
        return format_decimal(amount)
    digits = minor_digits(currency)
    rounded = round_minor(amount, currency)
    if rounded == 0 and amount != 0:
        smallest = format(Decimal(1).scaleb(-digits), "f")
        return f"{'> -' if amount < 0 else '< '}{smallest} {currency}"
    return f"{rounded:,.{digits}f} {currency}"
