"""Quantities of the control plane (limits, usage, credits) as exact nano-units, parsed from
and rendered to decimal strings like money."""

from __future__ import annotations

from typing import Any

from margin._calendar import load_zone
from margin._money import MoneyError, format_decimal, from_nanos, parse_amount, to_nanos
from margin.control.errors import ControlError

__all__ = ["check_zone", "parse_quantity", "render_quantity"]


def parse_quantity(value: Any, field: str, *, allow_negative: bool = False) -> int:
    """A decimal string or integer as nano-units, exactly; 422 naming ``field`` otherwise
    (more than 9 decimals would be rounded: ``1e-400`` credits granted as 0)."""
    try:
        amount = parse_amount(value)
        nanos = to_nanos(amount)
    except MoneyError as exc:
        raise ControlError(422, f"{field}: {exc}", field) from None
    if from_nanos(nanos) != amount:
        raise ControlError(422, f"{field}: at most 9 decimals", field)
    if nanos < 0 and not allow_negative:
        raise ControlError(422, f"{field}: must not be negative", field)
    return nanos


def render_quantity(nanos: int | None) -> str | None:
    return None if nanos is None else format_decimal(from_nanos(nanos))


def check_zone(name: str, field: str = "time_zone") -> str:
    try:
        load_zone(name)
    except ValueError as exc:
        raise ControlError(422, f"{field}: {exc}", field) from None
    return name
