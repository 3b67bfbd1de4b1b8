"""Charge models: the amount a quantity costs under a usage charge, with its breakdown.

All arithmetic is exact ``Decimal``. Tiers are ``{"up_to": q | None, "unit_price", "flat_fee"}``
with inclusive upper bounds in ascending order; the last tier is open (``up_to: None``).

- ``per_unit``: quantity × unit_price.
- ``graduated``: each tier prices the units that fall in it (plus its flat fee if any do).
- ``volume``: the tier holding the whole quantity prices every unit (plus its flat fee).
- ``package``: ⌈quantity / package_size⌉ × package_price (a started package is paid).
- ``percentage``: per event, value × rate / 100, clamped to [min_per_event, max_per_event].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from margin._money import format_decimal

__all__ = ["ChargeResult", "TierLine", "price_percentage", "price_quantity", "validate_tiers"]


@dataclass
class TierLine:
    """One tier's share of a graduated or volume charge."""

    first: Decimal
    last: Decimal | None
    units: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal

    def render(self) -> dict[str, Any]:
        return {
            "from": format_decimal(self.first),
            "up_to": None if self.last is None else format_decimal(self.last),
            "units": format_decimal(self.units),
            "unit_price": format_decimal(self.unit_price),
            "flat_fee": format_decimal(self.flat_fee),
            "amount": format_decimal(self.amount),
        }


@dataclass
class ChargeResult:
    amount: Decimal
    quantity: Decimal
    tiers: list[TierLine] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    #: Per event, the fee each one added (percentage charges only).
    parts: list[Decimal] = field(default_factory=list)


def _d(value: Any, default: str = "0") -> Decimal:
    return Decimal(str(value if value is not None else default))


def validate_tiers(tiers: list[dict[str, Any]]) -> None:
    """Raise ``ValueError`` unless bounds ascend and only the last tier is open."""
    if not tiers:
        raise ValueError("at least one tier is required")
    previous = Decimal(-1)
    for index, tier in enumerate(tiers):
        up_to = tier.get("up_to")
        if up_to is None:
            if index != len(tiers) - 1:
                raise ValueError(f"tiers.{index}.up_to: only the last tier may be open")
            continue
        bound = _d(up_to)
        if bound <= previous:
            raise ValueError(f"tiers.{index}.up_to: bounds must ascend")
        previous = bound
    if tiers[-1].get("up_to") is not None:
        raise ValueError(f"tiers.{len(tiers) - 1}.up_to: the last tier must be open (null)")


def _graduated(quantity: Decimal, tiers: list[dict[str, Any]]) -> ChargeResult:
    lines: list[TierLine] = []
    lower = Decimal(0)
    for tier in tiers:
        upper = None if tier.get("up_to") is None else _d(tier["up_to"])
        units = quantity - lower if upper is None else min(quantity, upper) - lower
        units = max(units, Decimal(0))
        price, flat = _d(tier.get("unit_price")), _d(tier.get("flat_fee"))
        amount = units * price + (flat if units > 0 else 0)
        lines.append(TierLine(lower, upper, units, price, flat, amount))
        if upper is None or quantity <= upper:
            break
        lower = upper
    return ChargeResult(sum((t.amount for t in lines), Decimal(0)), quantity, lines)


def _volume(quantity: Decimal, tiers: list[dict[str, Any]]) -> ChargeResult:
    lower = Decimal(0)
    for tier in tiers:
        upper = None if tier.get("up_to") is None else _d(tier["up_to"])
        if upper is None or quantity <= upper:
            price, flat = _d(tier.get("unit_price")), _d(tier.get("flat_fee"))
            amount = quantity * price + (flat if quantity > 0 else 0)
            line = TierLine(lower, upper, quantity, price, flat, amount)
            return ChargeResult(amount, quantity, [line])
        lower = upper
    raise ValueError("tiers: the last tier must be open")


def price_quantity(charge: dict[str, Any], quantity: Decimal) -> ChargeResult:
    """Price a period's quantity under a ``per_unit``, ``graduated``, ``volume`` or
    ``package`` charge."""
    model = charge["model"]
    if model == "per_unit":
        price = _d(charge["unit_price"])
        return ChargeResult(
            quantity * price, quantity, detail={"unit_price": format_decimal(price)}
        )
    if model == "graduated":
        return _graduated(quantity, charge["tiers"])
    if model == "volume":
        return _volume(quantity, charge["tiers"])
    if model == "package":
        size, price = _d(charge["package_size"]), _d(charge["package_price"])
        packages = (
            (quantity / size).to_integral_value(rounding=ROUND_CEILING) if quantity > 0 else 0
        )
        detail = {
            "packages": format_decimal(Decimal(packages)),
            "package_size": format_decimal(size),
            "package_price": format_decimal(price),
        }
        return ChargeResult(Decimal(packages) * price, quantity, detail=detail)
    raise ValueError(f"model: '{model}' does not price a quantity")


def price_percentage(charge: dict[str, Any], values: Iterable[Decimal]) -> ChargeResult:
    """Price each event's value at ``rate`` percent, clamped per event to the minimum and
    maximum (when given); the quantity is the sum of the values."""
    rate = _d(charge["rate"]) / 100
    low = None if charge.get("min_per_event") is None else _d(charge["min_per_event"])
    high = None if charge.get("max_per_event") is None else _d(charge["max_per_event"])
    amount = quantity = Decimal(0)
    count = clamped = 0
    parts = []
    for value in values:
        fee = value * rate
        if low is not None and fee < low:
            fee, clamped = low, clamped + 1
        elif high is not None and fee > high:
            fee, clamped = high, clamped + 1
        amount += fee
        quantity += value
        count += 1
        parts.append(fee)
    detail = {"rate": format_decimal(_d(charge["rate"])), "events": count, "clamped": clamped}
    return ChargeResult(amount, quantity, detail=detail, parts=parts)
