"""Rating: the invoice lines one customer owes for one period, per currency.

Rules (documented in ``docs`` of the invoices routes too):

- **Fees** are billed in advance in the period they cover. A monthly fee is prorated by
  days: amount × (UTC calendar days of the period on which the order is in force, for any
  part of the day) ÷ (days in the period), rounded half-even to the nano-unit. A yearly fee
  is billed in full in the month of each anniversary of the order's start.
- **Outcomes**: each signal is priced by the first-created order in force at its timestamp
  whose plan (on the signal's agent, or on any agent) prices its ``event_name``. A signal is
  billed in the period its timestamp falls in — unless that period's invoice (same customer
  and currency) is finalized and the signal was ingested after that invoice's ``as_of``
  watermark: then it is *late* and rolls into the first later period whose invoice is not
  finalized (or was finalized after the signal arrived), as a separate ``late_from`` line.
- **Usage** charges price the billable meter's value over the part of the period the order
  is in force (by event timestamp).
- A **minimum** commitment tops an order's lines up to the minimum.
- Tracking modes: a ``cost_only`` customer or agent is never rated; a ``revenue_only`` one
  shows no AI cost (``cost: null``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select

from margin._money import format_decimal, from_nanos, to_nanos
from margin.billing.charges import price_percentage, price_quantity
from margin.billing.jsonpath import MISSING, compile_path
from margin.billing.metering import MeterQuery, fetch_events, numeric, run_query
from margin.billing.meters import MeterStore, unit_cost
from margin.billing.periods import days_between, month_bounds, period_of, shift
from margin.billing.plans import active, load_orders, outcome_price
from margin.store.schema import agents, costs, signals

__all__ = ["Line", "RatedPeriod", "rate_customer"]


@dataclass
class Line:
    """One invoice line; money in exact Decimal, costs per currency in nano-units."""

    type: str
    key: str
    description: str
    currency: str
    order_id: str
    amount: Decimal
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    event_name: str | None = None
    late_from: str | None = None
    tiers: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    costs: dict[str, int] | None = field(default_factory=dict)

    def render(self) -> dict[str, Any]:
        amount = from_nanos(to_nanos(self.amount))
        cost = None if self.costs is None else self.costs.get(self.currency, 0)
        out: dict[str, Any] = {
            "type": self.type,
            "key": self.key,
            "description": self.description,
            "order_id": self.order_id,
            "event_name": self.event_name,
            "late_from": self.late_from,
            "quantity": None if self.quantity is None else format_decimal(self.quantity),
            "unit_price": None if self.unit_price is None else format_decimal(self.unit_price),
            "amount": format_decimal(amount),
            "tiers": self.tiers,
            "detail": self.detail,
            # Seller-only: the AI cost behind the line and the margin it leaves.
            "cost": None if cost is None else format_decimal(from_nanos(cost)),
            "cost_other_currencies": {
                c: format_decimal(from_nanos(n))
                for c, n in sorted((self.costs or {}).items())
                if c != self.currency
            },
            "margin": None if cost is None else format_decimal(amount - from_nanos(cost)),
        }
        return out


@dataclass
class RatedPeriod:
    """Lines per currency for one customer and period."""

    lines: dict[str, list[Line]] = field(default_factory=lambda: defaultdict(list))


def _segments(lo: int, hi: int, orders: list[dict[str, Any]]) -> list[int]:
    cuts = {lo}
    for order in orders:
        for edge in (order["starts_at"], order["ends_at"]):
            if edge is not None and lo < edge < hi:
                cuts.add(edge)
    return sorted(cuts)


def _segment_expr(column: Any, cuts: list[int]) -> Any:
    if len(cuts) == 1:
        return literal(cuts[0])
    return case(*[(column < nxt, start) for start, nxt in pairwise(cuts)], else_=cuts[-1])


def _fee_amount(
    fee: Mapping[str, Any], order: Mapping[str, Any], lo: int, hi: int, period: str
) -> Decimal | None:
    amount = Decimal(fee["amount"])
    start, end = order["starts_at"], order["ends_at"]
    if fee["interval"] == "yearly":
        if period[5:] != period_of(start)[5:] or not (start < hi and (end is None or end > lo)):
            return None
        return amount
    days = days_between(max(lo, start), min(hi, end) if end is not None else hi)
    if days <= 0:
        return None
    total = days_between(lo, hi)
    return amount if days == total else from_nanos(to_nanos(amount * days / total))


class _Rater:
    def __init__(
        self,
        conn: Connection,
        org_id: str,
        customer: Mapping[str, Any],
        period: str,
        finalized: dict[str, dict[str, int]],
    ) -> None:
        self.conn, self.org_id, self.customer, self.period = conn, org_id, customer, period
        self.lo, self.hi = month_bounds(period)
        self.finalized = finalized  # currency → period → as_of watermark
        self.orders = [
            o for o in load_orders(conn, org_id, customer["id"]) if o["starts_at"] < self.hi
        ]
        agent_ids = {o["plan"]["agent_id"] for o in self.orders} - {None}
        self.modes = (
            {
                r.id: r.tracking_mode
                for r in conn.execute(
                    select(agents.c.id, agents.c.tracking_mode).where(agents.c.id.in_(agent_ids))
                )
            }
            if agent_ids
            else {}
        )
        self.no_cost = customer["tracking_mode"] == "revenue_only"
        self.result = RatedPeriod()

    def rated(self, order: Mapping[str, Any]) -> bool:
        mode: str = self.modes.get(order["plan"]["agent_id"] or "", "full")
        return mode != "cost_only"

    def costs_for(self, order: Mapping[str, Any], nanos: dict[str, int]) -> dict[str, int] | None:
        if self.no_cost or self.modes.get(order["plan"]["agent_id"] or "") == "revenue_only":
            return None
        return nanos

    def add(self, line: Line) -> None:
        self.result.lines[line.currency].append(line)

    def fees(self) -> None:
        for order in self.orders:
            if not self.rated(order):
                continue
            for fee in order["charges"]["fees"]:
                amount = _fee_amount(fee, order, self.lo, self.hi, self.period)
                if amount is not None:
                    label = fee.get("name") or fee["key"]
                    self.add(
                        Line(
                            "fee",
                            f"fee:{fee['key']}",
                            f"{label} ({fee['interval']})",
                            order["plan"]["currency"],
                            order["id"],
                            amount,
                            Decimal(1),
                            amount,
                            detail={"fee": fee["amount"]},
                            costs=self.costs_for(order, {}),
                        )
                    )

    def _billing_period(self, ts: int, created: int, currency: str) -> str:
        """The period a signal is billed in, given the finalized invoices' watermarks."""
        marks = self.finalized.get(currency, {})
        period = period_of(ts)
        while period in marks and created > marks[period]:
            period = shift(period, 1)
        return period

    def outcomes(self) -> None:
        cuts = _segments(self.lo, self.hi, self.orders)
        seg = _segment_expr(signals.c.ts, cuts).label("seg")
        where = and_(
            signals.c.org_id == self.org_id,
            signals.c.customer_id == self.customer["id"],
            signals.c.ts >= self.lo,
            signals.c.ts < self.hi,
        )
        groups: dict[tuple[str, str | None, str | None], list[Any]] = {}
        rows = self.conn.execute(
            select(signals.c.agent_id, signals.c.event_name, seg, func.count().label("n"))
            .where(where)
            .group_by(signals.c.agent_id, signals.c.event_name, seg)
        )
        cost_rows = self.conn.execute(
            select(
                signals.c.agent_id,
                signals.c.event_name,
                seg,
                costs.c.currency,
                func.sum(costs.c.amount_nanos).label("amount"),
            )
            .select_from(
                costs.join(
                    signals,
                    and_(costs.c.signal_id == signals.c.id, costs.c.org_id == signals.c.org_id),
                )
            )
            .where(where, costs.c.org_id == self.org_id)
            .group_by(signals.c.agent_id, signals.c.event_name, seg, costs.c.currency)
        ).all()
        cost_of: dict[tuple[Any, ...], dict[str, int]] = defaultdict(dict)
        for r in cost_rows:
            cost_of[(r.agent_id, r.event_name, int(r.seg))][r.currency] = int(r.amount or 0)
        for r in rows:
            self._bill(
                groups,
                r.agent_id,
                r.event_name,
                int(r.seg),
                int(r.n),
                cost_of[(r.agent_id, r.event_name, int(r.seg))],
                None,
            )
        self._late(groups)
        for (order_id, event_name, late_from), (order, price, count, nanos) in groups.items():
            label = f"{event_name} × {count}" + (f" (late, from {late_from})" if late_from else "")
            key = f"outcome:{event_name}" + (f":{late_from}" if late_from else "")
            self.add(
                Line(
                    "outcome",
                    key,
                    label,
                    order["plan"]["currency"],
                    order_id,
                    price * count,
                    Decimal(count),
                    price,
                    event_name,
                    late_from,
                    costs=self.costs_for(order, nanos),
                )
            )

    def _bill(
        self,
        groups: dict[Any, list[Any]],
        agent_id: str | None,
        event_name: str,
        ts: int,
        count: int,
        nanos: dict[str, int],
        late_from: str | None,
    ) -> None:
        found = outcome_price(self.orders, self.customer["id"], agent_id, event_name, ts)
        if found is None or not self.rated(found[0]):
            return
        order, price = found
        slot = groups.setdefault(
            (order["id"], event_name, late_from), [order, price, 0, defaultdict(int)]
        )
        slot[2] += count
        for currency, amount in nanos.items():
            slot[3][currency] += amount

    def _late(self, groups: dict[Any, list[Any]]) -> None:
        marks = [m for per in self.finalized.values() for m in per.values()]
        if not marks:
            return
        first = min(month_bounds(p)[0] for per in self.finalized.values() for p in per)
        rows = self.conn.execute(
            select(
                signals.c.id,
                signals.c.agent_id,
                signals.c.event_name,
                signals.c.ts,
                signals.c.created_at,
            ).where(
                signals.c.org_id == self.org_id,
                signals.c.customer_id == self.customer["id"],
                signals.c.ts >= first,
                signals.c.ts < self.lo,
                signals.c.created_at > min(marks),
            )
        ).all()
        billed = []
        for r in rows:
            found = outcome_price(self.orders, self.customer["id"], r.agent_id, r.event_name, r.ts)
            if (
                found
                and self._billing_period(r.ts, r.created_at, found[0]["plan"]["currency"])
                == self.period
            ):
                billed.append(r)
        if not billed:
            return
        nanos: dict[str, dict[str, int]] = defaultdict(dict)
        for c in self.conn.execute(
            select(
                costs.c.signal_id, costs.c.currency, func.sum(costs.c.amount_nanos).label("amount")
            )
            .where(costs.c.org_id == self.org_id, costs.c.signal_id.in_([r.id for r in billed]))
            .group_by(costs.c.signal_id, costs.c.currency)
        ):
            nanos[c.signal_id][c.currency] = int(c.amount or 0)
        for r in billed:
            self._bill(groups, r.agent_id, r.event_name, r.ts, 1, nanos[r.id], period_of(r.ts))

    def usage(self) -> None:
        store = MeterStore(self.conn, self.org_id)
        for order in self.orders:
            if not self.rated(order):
                continue
            lo = max(self.lo, order["starts_at"])
            hi = self.hi if order["ends_at"] is None else min(self.hi, order["ends_at"])
            if hi <= lo:
                continue
            for charge in order["charges"]["usage"]:
                meter = store.get(charge["meter"])
                if meter is None:
                    continue
                query = MeterQuery(lo, hi, customers=[self.customer["id"]])
                if charge["model"] == "percentage":
                    result = price_percentage(charge, self._values(meter, query))
                else:
                    quantity = run_query(
                        self.conn, self.org_id, meter, query
                    ).total.value() or Decimal(0)
                    result = price_quantity(charge, quantity)
                nanos: dict[str, int] = defaultdict(int)
                for cost_meter in store.list(meter["event_type"]):
                    rate = unit_cost(cost_meter)
                    if cost_meter["kind"] == "cost" and rate is not None:
                        value = run_query(self.conn, self.org_id, cost_meter, query).total.value()
                        nanos[cost_meter["currency"]] += to_nanos((value or Decimal(0)) * rate)
                unit = Decimal(charge["unit_price"]) if charge["model"] == "per_unit" else None
                self.add(
                    Line(
                        "usage",
                        f"usage:{charge['key']}",
                        f"{charge.get('name') or charge['key']} ({charge['model']})",
                        order["plan"]["currency"],
                        order["id"],
                        result.amount,
                        result.quantity,
                        unit,
                        tiers=[t.render() for t in result.tiers],
                        detail={"meter": meter["key"], **result.detail},
                        costs=self.costs_for(order, dict(nanos)),
                    )
                )

    def _values(self, meter: Mapping[str, Any], query: MeterQuery) -> list[Decimal]:
        get = compile_path(meter["value_property"] or "$")
        out = []
        for row in fetch_events(self.conn, self.org_id, meter["event_type"], query):
            raw = get(row.data)
            number = None if raw is MISSING else numeric(raw)
            if number is not None:
                out.append(number)
        return out

    def minimums(self) -> None:
        for order in self.orders:
            minimum = order["charges"].get("minimum")
            if (
                minimum is None
                or not self.rated(order)
                or not active(order, max(self.lo, order["starts_at"]))
                or order["starts_at"] >= self.hi
            ):
                continue
            currency = order["plan"]["currency"]
            subtotal = sum(
                (ln.amount for ln in self.result.lines[currency] if ln.order_id == order["id"]),
                Decimal(0),
            )
            if subtotal < Decimal(minimum):
                self.add(
                    Line(
                        "minimum",
                        "minimum",
                        f"Minimum commitment {minimum} {currency}",
                        currency,
                        order["id"],
                        Decimal(minimum) - subtotal,
                        detail={"minimum": minimum, "subtotal": format_decimal(subtotal)},
                        costs=self.costs_for(order, {}),
                    )
                )


def rate_customer(
    conn: Connection,
    org_id: str,
    customer: Mapping[str, Any],
    period: str,
    finalized: dict[str, dict[str, int]],
) -> RatedPeriod:
    """Rate one customer's period. ``finalized`` maps currency → period → the ``as_of``
    watermark of that period's finalized invoice."""
    if customer["tracking_mode"] == "cost_only":
        return RatedPeriod()
    rater = _Rater(conn, org_id, customer, period, finalized)
    rater.fees()
    rater.outcomes()
    rater.usage()
    rater.minimums()
    return rater.result
