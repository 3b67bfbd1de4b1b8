"""Rated lines: one amount a customer owes for a period, and where in time it belongs.

A line's ``amount`` is what is billed: rounded half-even to the currency's minor unit when
it is rated (``exact`` keeps the value before rounding). Its ``pieces`` say where the amount
lies in time, for reports: an outcome line lies on its signals (weighted by count), a fee
on the days it covers (weighted by each day's share), a usage charge on its events (weighted
by their quantity) or on its days. ``shares`` splits the amount over the pieces in whole
minor units, first over agents then over time, so that the parts always add up to the
line and the part of any stretch of time depends only on the pieces before and in it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from margin._money import format_decimal, from_nanos
from margin._rounding import allocate, minor_digits, to_minor

__all__ = ["Line", "Piece", "from_minor"]


class Piece(NamedTuple):
    """A part of a line at one time (a stretch start, a day or an event), by weight."""

    ts: int
    agent_id: str
    event_name: str
    weight: int


def from_minor(units: int, currency: str) -> Decimal:
    """The amount of a whole number of minor units."""
    return Decimal(units).scaleb(-minor_digits(currency))


@dataclass
class Line:
    """One invoice line: money in exact Decimal; the AI cost behind it per currency in
    nano-units (None where cost is not tracked)."""

    type: str
    key: str
    description: str
    currency: str
    order_id: str
    amount: Decimal
    exact: Decimal
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    event_name: str | None = None
    late_from: str | None = None
    tiers: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    costs: dict[str, int] | None = field(default_factory=dict)
    pieces: list[Piece] = field(default_factory=list)

    def shares(self) -> list[tuple[Piece, int]]:
        """Each piece with its part of the amount, in minor units (summing to the amount)."""
        by_agent: dict[str, list[Piece]] = defaultdict(list)
        for piece in self.pieces:
            by_agent[piece.agent_id].append(piece)
        agents = sorted(by_agent)
        totals = [sum(p.weight for p in by_agent[a]) for a in agents]
        out: list[tuple[Piece, int]] = []
        for agent, units in zip(
            agents, allocate(to_minor(self.amount, self.currency), totals), strict=True
        ):
            pieces = sorted(by_agent[agent], key=lambda p: (p.ts, p.event_name))
            out.extend(zip(pieces, allocate(units, [p.weight for p in pieces]), strict=True))
        return out

    def render(self) -> dict[str, Any]:
        """The JSON shape stored on an invoice."""
        cost = None if self.costs is None else self.costs.get(self.currency, 0)
        return {
            "type": self.type,
            "key": self.key,
            "description": self.description,
            "order_id": self.order_id,
            "event_name": self.event_name,
            "late_from": self.late_from,
            "quantity": None if self.quantity is None else format_decimal(self.quantity),
            "unit_price": None if self.unit_price is None else format_decimal(self.unit_price),
            "amount": format_decimal(self.amount),
            "exact_amount": format_decimal(self.exact),
            "tiers": self.tiers,
            "detail": self.detail,
            # Seller-only: the AI cost behind the line and the margin it leaves.
            "cost": None if cost is None else format_decimal(from_nanos(cost)),
            "cost_other_currencies": {
                c: format_decimal(from_nanos(n))
                for c, n in sorted((self.costs or {}).items())
                if c != self.currency
            },
            # Unstated when part of the cost is in another currency (see ``render_invoice``).
            "margin": None
            if cost is None or any(n for c, n in (self.costs or {}).items() if c != self.currency)
            else format_decimal(self.amount - from_nanos(cost)),
        }
