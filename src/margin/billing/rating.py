"""Rating: the one function that turns facts and orders into revenue — the lines a customer
owes for one billing period (a UTC month), per currency. Invoices are these lines; reports,
the overview, the dashboard and the CLI place these lines in time; a simulator can rate
facts under candidate orders, since ``rate_period`` is pure (facts and orders in, lines out).

Rules (``docs/billing.md`` explains them for users):

- Every line is rounded half-even to the currency's minor unit when it is rated; an
  invoice's total is the sum of its lines.
- **Fees** are billed in advance for the period. A monthly fee is split over the period's
  UTC days (day k gets ⌊F·(k+1)/D⌋ − ⌊F·k/D⌋ minor units, so the days add up to the fee);
  an order pays the days it is in force for any part of. A yearly fee is billed in full in
  the month of each anniversary of the order's start.
- **Outcomes**: a signal is priced by the first-created order in force at its time whose
  plan (on the signal's agent, or on any agent) prices its event name. A signal is billed
  in its own period, unless that period's invoice (same currency) was finalized before the
  signal arrived: then it is *late* and billed in the first later period not finalized
  before it arrived, on a separate ``late_from`` line.
- An outcome **paid in a credit currency** spends the customer's balance (``facts.credits``)
  on whole signals first, then bills the rest as overage (``margin.billing.credit_prices``).
- **Usage** charges price the billable meter's reading over the part of the period the
  order is in force.
- A **minimum** tops an order's lines in the period up to the minimum.
- Modes: a ``cost_only`` customer is never rated; a ``cost_only`` agent's signals are never
  billed, nor are orders on a plan for that agent; a ``revenue_only`` customer or agent
  shows no AI cost on lines (``cost: null``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any

from margin._calendar import day_starts, month_bounds, period_of, shift
from margin._money import NANO
from margin._rounding import allocate, round_minor, to_minor
from margin._time import DAY_US
from margin.billing.charges import price_percentage, price_quantity
from margin.billing.credit_prices import credit_lines
from margin.billing.errors import BillingError
from margin.billing.facts import PeriodFacts
from margin.billing.lines import Line, Piece, from_minor
from margin.billing.metering import MeterQuery, measure, readings
from margin.billing.meters import event_cost
from margin.billing.orders import active, outcome_charge

__all__ = ["Rated", "rate_period"]

#: Lines per currency.
Rated = dict[str, list[Line]]
_ADDITIVE = ("sum", "count")


@cache
def _day_shares(units: int, days: int) -> tuple[int, ...]:
    """A monthly fee of ``units`` minor units split over ``days`` days."""
    return tuple(allocate(units, [1] * days))


def _scaled(value: Decimal) -> int:
    """A weight from an exact quantity (nano resolution)."""
    return int((value / NANO).to_integral_value())


class _Rater:
    def __init__(
        self,
        period: str,
        customer: Mapping[str, Any],
        orders: list[dict[str, Any]],
        facts: PeriodFacts,
        marks: Mapping[str, Mapping[str, int]],
        agent_modes: Mapping[str, str],
    ) -> None:
        self.period, self.customer, self.facts = period, customer, facts
        self.lo, self.hi = month_bounds(period)
        self.orders = [o for o in orders if o["starts_at"] < self.hi]
        self.marks, self.modes = marks, agent_modes
        self.no_cost = customer["tracking_mode"] == "revenue_only"
        self.rated: Rated = defaultdict(list)
        #: What the customer's credit balances can still pay in this period (nano-credits).
        self.pool = dict(facts.credits)

    # -- modes and helpers -----------------------------------------------------------------

    def billable(self, order: Mapping[str, Any]) -> bool:
        return self.modes.get(order["plan"]["agent_id"] or "") != "cost_only"

    def costs_for(self, order: Mapping[str, Any], nanos: dict[str, int]) -> dict[str, int] | None:
        if self.no_cost or self.modes.get(order["plan"]["agent_id"] or "") == "revenue_only":
            return None
        return nanos

    def span(self, order: Mapping[str, Any]) -> tuple[int, int]:
        """The part [a, b) of the period the order is in force (empty when b <= a)."""
        end = order["ends_at"]
        return max(self.lo, order["starts_at"]), self.hi if end is None else min(self.hi, end)

    def day_pieces(self, order: Mapping[str, Any], a: int, b: int) -> list[Piece]:
        agent = order["plan"]["agent_id"] or ""
        return [Piece(day, agent, "", 1) for day in day_starts(a, b)]

    def add(self, line: Line) -> None:
        self.rated[line.currency].append(line)

    # -- fees ------------------------------------------------------------------------------

    def fees(self) -> None:
        days = (self.hi - self.lo) // DAY_US
        for order in self.orders:
            a, b = self.span(order)
            if b <= a or not self.billable(order):
                continue
            currency, agent = order["plan"]["currency"], order["plan"]["agent_id"] or ""
            for fee in order["charges"]["fees"]:
                amount = Decimal(fee["amount"])
                if fee["interval"] == "yearly":
                    if self.period[5:] != period_of(order["starts_at"])[5:]:
                        continue
                    billed, exact = round_minor(amount, currency), amount
                    pieces = [Piece(a - a % DAY_US, agent, "", 1)]
                else:
                    shares = _day_shares(to_minor(amount, currency), days)
                    pieces = [
                        Piece(day, agent, "", shares[(day - self.lo) // DAY_US])
                        for day in day_starts(a, b)
                    ]
                    billed = from_minor(sum(p.weight for p in pieces), currency)
                    exact = (amount * len(pieces) / days).quantize(NANO)
                label = fee.get("name") or fee["key"]
                self.add(
                    Line(
                        "fee",
                        f"fee:{fee['key']}",
                        f"{label} ({fee['interval']})",
                        currency,
                        order["id"],
                        billed,
                        exact,
                        Decimal(1),
                        billed,
                        detail={"fee": fee["amount"]},
                        costs=self.costs_for(order, {}),
                        pieces=pieces,
                    )
                )

    # -- outcomes --------------------------------------------------------------------------

    def _billing_period(self, ts: int, created: int, currency: str) -> str:
        """The period a signal is billed in, given the finalized invoices' watermarks."""
        marks = self.marks.get(currency, {})
        period = period_of(ts)
        while period in marks and created > marks[period]:
            period = shift(period, 1)
        return period

    def outcomes(self) -> None:
        groups: dict[tuple[str, str, str | None], list[Any]] = {}
        attributed = self.facts.outcome_costs or {}
        for (ts, agent, event), n in sorted(self.facts.outcomes.items()):
            if self.lo <= ts < self.hi:
                costs = attributed.get((ts, agent, event), {})
                self._bill(groups, Piece(ts, agent, event, n), ts, None, costs)
        for signal in self.facts.late:
            if signal.ts >= self.lo:
                continue
            piece = Piece(self.lo, signal.agent_id, signal.event_name, 1)
            self._bill(groups, piece, signal.ts, signal.created_at, signal.costs)
        for (_order_id, event, late), (order, outcome, n, pieces, nanos) in groups.items():
            if outcome.get("credit_currency"):
                behind = self.costs_for(order, dict(nanos))
                for line in credit_lines(order, outcome, n, late, pieces, behind, self.pool):
                    self.add(line)
                continue
            currency, price = order["plan"]["currency"], Decimal(outcome["price"])
            label = f"{event} × {n}" + (f" (late, from {late})" if late else "")
            self.add(
                Line(
                    "outcome",
                    f"outcome:{event}" + (f":{late}" if late else ""),
                    label,
                    currency,
                    order["id"],
                    round_minor(price * n, currency),
                    price * n,
                    Decimal(n),
                    price,
                    event,
                    late,
                    costs=self.costs_for(order, dict(nanos)),
                    pieces=pieces,
                )
            )

    def _bill(
        self,
        groups: dict[tuple[str, str, str | None], list[Any]],
        piece: Piece,
        ts: int,
        created: int | None,
        costs: Mapping[str, int],
    ) -> None:
        """Add ``piece.weight`` signals at ``ts`` to their line (``created`` is set for a
        signal of an earlier period, billed here only if it is late into this period)."""
        agent, event = piece.agent_id, piece.event_name
        if self.modes.get(agent) == "cost_only":
            return
        found = outcome_charge(self.orders, self.customer["id"], agent or None, event, ts)
        if found is None or not self.billable(found[0]):
            return
        order, outcome = found
        late = None
        if created is not None:
            if self._billing_period(ts, created, order["plan"]["currency"]) != self.period:
                return
            late = period_of(ts)
        slot = groups.setdefault(
            (order["id"], event, late), [order, outcome, 0, [], defaultdict(int)]
        )
        slot[2] += piece.weight
        slot[3].append(piece)
        if self.modes.get(agent) != "revenue_only":
            for currency, nanos in costs.items():
                slot[4][currency] += nanos

    # -- usage -----------------------------------------------------------------------------

    def meter_of(self, order: dict[str, Any], charge: dict[str, Any]) -> dict[str, Any]:
        """A usage charge's meter. One gone (older data: a meter a plan reads can no longer
        be deleted) is refused rather than its line left out, which would bill it as $0."""
        meter = self.facts.meters.get(charge["meter"])
        if meter is None:
            field = f"usage.{charge['key']}.meter"
            detail = (
                f"{field}: the plan '{order['plan']['key']}' charges on the meter "
                f"'{charge['meter']}', which does not exist: create it to rate the period"
            )
            raise BillingError(409, detail, field)
        return meter

    def usage(self) -> None:
        for order in self.orders:
            a, b = self.span(order)
            if b <= a or not self.billable(order):
                continue
            currency, agent = order["plan"]["currency"], order["plan"]["agent_id"] or ""
            for charge in order["charges"]["usage"]:
                meter = self.meter_of(order, charge)
                rows = [r for r in self.facts.events.get(meter["event_type"], []) if a <= r.ts < b]
                read = list(readings(meter, rows))
                numbered = [(r, n) for r, _raw, n in read if n is not None]
                if charge["model"] == "percentage":
                    result = price_percentage(charge, [n for _r, n in numbered])
                    pieces = [
                        Piece(r.ts, agent, "", _scaled(part))
                        for (r, _n), part in zip(numbered, result.parts, strict=True)
                    ]
                else:
                    value = measure(meter, rows, MeterQuery(a, b)).total.value()
                    result = price_quantity(charge, value or Decimal(0))
                    # Where the quantity adds up event by event, the charge lies on the
                    # events; a peak, a latest or a count of unique values lies on the days.
                    pieces = []
                    if meter["aggregation"] in _ADDITIVE:
                        pieces = [
                            Piece(r.ts, agent, "", 1 if n is None else _scaled(n))
                            for r, _raw, n in read
                        ]
                if not pieces or sum(p.weight for p in pieces) == 0:
                    pieces = self.day_pieces(order, a, b)
                nanos: dict[str, int] = defaultdict(int)
                for cost_meter in self.facts.meters.values():
                    if (
                        cost_meter["kind"] == "cost"
                        and cost_meter["event_type"] == meter["event_type"]
                    ):
                        for _row, _raw, number in readings(cost_meter, rows):
                            nanos[cost_meter["currency"]] += event_cost(cost_meter, number)
                unit = Decimal(charge["unit_price"]) if charge["model"] == "per_unit" else None
                self.add(
                    Line(
                        "usage",
                        f"usage:{charge['key']}",
                        f"{charge.get('name') or charge['key']} ({charge['model']})",
                        currency,
                        order["id"],
                        round_minor(result.amount, currency),
                        result.amount,
                        result.quantity,
                        unit,
                        tiers=[t.render() for t in result.tiers],
                        detail={"meter": meter["key"], **result.detail},
                        costs=self.costs_for(order, dict(nanos)),
                        pieces=pieces,
                    )
                )

    # -- minimums --------------------------------------------------------------------------

    def minimums(self) -> None:
        for order in self.orders:
            minimum = order["charges"].get("minimum")
            a, b = self.span(order)
            if minimum is None or b <= a or not self.billable(order) or not active(order, a):
                continue
            currency = order["plan"]["currency"]
            floor = round_minor(Decimal(minimum), currency)
            subtotal = sum(
                (ln.amount for ln in self.rated[currency] if ln.order_id == order["id"]),
                Decimal(0),
            )
            if subtotal < floor:
                self.add(
                    Line(
                        "minimum",
                        "minimum",
                        f"Minimum commitment {minimum} {currency}",
                        currency,
                        order["id"],
                        floor - subtotal,
                        Decimal(minimum) - subtotal,
                        detail={"minimum": minimum, "subtotal": str(subtotal)},
                        costs=self.costs_for(order, {}),
                        pieces=self.day_pieces(order, a, b),
                    )
                )


def rate_period(
    period: str,
    customer: Mapping[str, Any],
    orders: list[dict[str, Any]],
    facts: PeriodFacts,
    *,
    marks: Mapping[str, Mapping[str, int]] | None = None,
    agent_modes: Mapping[str, str] | None = None,
) -> Rated:
    """The lines ``customer`` owes for ``period``, per currency.

    ``orders`` are the customer's (as ``load_orders`` returns them, or candidates);
    ``marks`` maps currency → period → the ``as_of`` watermark of that period's finalized
    invoice; ``agent_modes`` maps agent ids to their tracking mode (absent: full).
    """
    if customer["tracking_mode"] == "cost_only":
        return {}
    rater = _Rater(period, customer, orders, facts, marks or {}, agent_modes or {})
    rater.fees()
    rater.outcomes()
    rater.usage()
    rater.minimums()
    return {currency: lines for currency, lines in rater.rated.items() if lines}
