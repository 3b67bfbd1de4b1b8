"""Report facts read from the hourly rollups: cost rows and revenue rows keyed by dimensions.

Cost comes from ``cost_rollups``. Revenue is rated, not stored: outcome revenue is
``signal_rollups`` × the outcome price of the order in force at the start of each hour bucket
(orders change prices only at their edges, so the rollups are read once per stretch between
order edges, grouped by customer × agent × event — latency does not grow with raw records),
plus recurring fees accrued per UTC day. Usage charges are billed per period on invoices and
are not spread over report windows.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from margin._money import to_nanos
from margin._time import DAY_US, HOUR_US
from margin.billing.periods import month_bounds, period_of
from margin.billing.plans import load_orders, outcome_price
from margin.reports.daily import split
from margin.store.schema import (
    agents,
    cost_rollups,
    cost_rollups_daily,
    customers,
    signal_rollups,
    signal_rollups_daily,
)

__all__ = ["DIMENSIONS", "Facts", "Filters", "Row", "read_facts"]

DIMENSIONS = ("customer", "agent", "event_name", "provider", "model")
_COLUMN = {"customer": "customer_id", "agent": "agent_id", "event_name": "event_name"}
_COST_COLUMN = {**_COLUMN, "provider": "provider", "model": "model"}


@dataclass
class Filters:
    """Ids (not external ids) to keep; None keeps all."""

    customers: list[str] | None = None
    agents: list[str] | None = None
    event_names: list[str] | None = None


@dataclass
class Row:
    """Sums for one key (dimension values…, window start, currency); money in nano-units."""

    cost: int = 0
    revenue: int = 0
    records: int = 0
    unpriced: int = 0
    signals: int = 0
    has_cost: bool = False
    has_revenue: bool = False


@dataclass
class Facts:
    """Rows keyed by ``(dims…, window, currency)`` plus the parties' tracking modes."""

    rows: dict[tuple[Any, ...], Row] = field(default_factory=lambda: defaultdict(Row))
    modes: dict[str, str] = field(default_factory=dict)
    signals: dict[tuple[Any, ...], int] = field(default_factory=lambda: defaultdict(int))


def _window_expr(column: Any, starts: Sequence[int] | None) -> Any:
    if starts is None:
        return literal(0)
    if len(starts) == 1:
        return literal(starts[0])
    return case(*[(column < nxt, lo) for lo, nxt in pairwise(starts)], else_=starts[-1])


def _where(table: Any, org_id: str, ranges: list[tuple[int, int]], filters: Filters) -> list[Any]:
    spans = [and_(table.c.bucket >= a, table.c.bucket < b) for a, b in ranges]
    conds = [table.c.org_id == org_id, or_(*spans)]
    if filters.customers is not None:
        conds.append(table.c.customer_id.in_(filters.customers))
    if filters.agents is not None:
        conds.append(table.c.agent_id.in_(filters.agents))
    if filters.event_names is not None:
        conds.append(table.c.event_name.in_(filters.event_names))
    return conds


def _order_cuts(orders: list[dict[str, Any]], lo: int, hi: int) -> set[int]:
    """Hour buckets where an order's price starts or stops applying."""
    cuts = set()
    for order in orders:
        for edge in (order["starts_at"], order["ends_at"]):
            if edge is not None:
                edge += -edge % HOUR_US  # the first bucket priced by the new state
                if lo < edge < hi:
                    cuts.add(edge)
    return cuts


def _modes(conn: Connection, org_id: str) -> dict[str, str]:
    """Ids of customers and agents not tracked in full, with their mode."""
    modes: dict[str, str] = {}
    for table in (customers, agents):
        rows = conn.execute(
            select(table.c.id, table.c.tracking_mode).where(
                table.c.org_id == org_id, table.c.tracking_mode != "full"
            )
        )
        modes.update({r.id: r.tracking_mode for r in rows})
    return modes


def _window_of(starts: Sequence[int] | None, ts: int) -> int:
    if starts is None:
        return 0
    return starts[max(bisect_right(starts, ts) - 1, 0)]


def read_facts(
    conn: Connection,
    org_id: str,
    lo: int,
    hi: int,
    dims: Sequence[str],
    filters: Filters,
    windows: Sequence[int] | None = None,
) -> Facts:
    """Cost and revenue over [lo, hi) grouped by ``dims`` (and window starts, if given)."""
    facts = Facts(modes=_modes(conn, org_id))
    no_cost = {k for k, m in facts.modes.items() if m == "revenue_only"}
    no_revenue = {k for k, m in facts.modes.items() if m == "cost_only"}
    orders = [o for o in load_orders(conn, org_id) if o["starts_at"] < hi]
    order_cuts = _order_cuts(orders, lo, hi)
    levels = split(lo, hi, {*order_cuts, *(windows or [])})
    for table, ranges in zip((cost_rollups, cost_rollups_daily), levels, strict=True):
        if ranges:
            _costs(conn, table, org_id, ranges, dims, filters, windows, facts, no_cost)
    if any(d in ("provider", "model") for d in dims):
        return facts
    segs = sorted({lo, *order_cuts})
    for table, ranges in zip((signal_rollups, signal_rollups_daily), levels, strict=True):
        if ranges:
            _outcome_revenue(
                conn, table, org_id, ranges, segs, orders, dims, filters, windows, facts, no_revenue
            )
    if filters.event_names is None:
        _fee_revenue(orders, lo, hi, dims, filters, windows, facts, no_revenue)
    return facts


def _costs(
    conn: Connection,
    table: Any,
    org_id: str,
    ranges: list[tuple[int, int]],
    dims: Sequence[str],
    filters: Filters,
    windows: Sequence[int] | None,
    facts: Facts,
    no_cost: set[str],
) -> None:
    win = _window_expr(table.c.bucket, windows).label("win")
    cols = [table.c[_COST_COLUMN[d]] for d in dims]
    stmt = (
        select(
            *cols,
            win,
            table.c.currency,
            func.sum(table.c.amount_nanos).label("amount"),
            func.sum(table.c.records).label("records"),
            func.sum(table.c.unpriced).label("unpriced"),
        )
        .where(*_where(table, org_id, ranges, filters))
        .group_by(*cols, win, table.c.currency)
    )
    if no_cost:
        stmt = stmt.where(table.c.customer_id.not_in(no_cost), table.c.agent_id.not_in(no_cost))
    for r in conn.execute(stmt):
        row = facts.rows[(*r[: len(dims)], int(r.win), r.currency)]
        row.cost += int(r.amount or 0)
        row.records += int(r.records)
        row.unpriced += int(r.unpriced)
        row.has_cost = True


def _outcome_revenue(
    conn: Connection,
    table: Any,
    org_id: str,
    ranges: list[tuple[int, int]],
    segs: list[int],
    orders: list[dict[str, Any]],
    dims: Sequence[str],
    filters: Filters,
    windows: Sequence[int] | None,
    facts: Facts,
    no_revenue: set[str],
) -> None:
    seg = _window_expr(table.c.bucket, segs).label("seg")
    win = _window_expr(table.c.bucket, windows).label("win")
    keys = [table.c.customer_id, table.c.agent_id, table.c.event_name]
    stmt = (
        select(*keys, seg, win, func.sum(table.c.signals).label("n"))
        .where(*_where(table, org_id, ranges, filters))
        .group_by(*keys, seg, win)
    )
    for r in conn.execute(stmt):
        values = {"customer": r.customer_id, "agent": r.agent_id, "event_name": r.event_name}
        key = tuple(values[d] for d in dims)
        facts.signals[(*key, int(r.win))] += int(r.n)
        if r.customer_id in no_revenue or r.agent_id in no_revenue:
            continue
        found = outcome_price(orders, r.customer_id, r.agent_id or None, r.event_name, int(r.seg))
        if found is None:
            continue
        order, price = found
        row = facts.rows[(*key, int(r.win), order["plan"]["currency"])]
        row.revenue += to_nanos(price * int(r.n))
        row.has_revenue = True


def _fee_revenue(
    orders: list[dict[str, Any]],
    lo: int,
    hi: int,
    dims: Sequence[str],
    filters: Filters,
    windows: Sequence[int] | None,
    facts: Facts,
    no_revenue: set[str],
) -> None:
    """Monthly fees accrue per UTC day (the month's fee split over its days, exactly);
    a yearly fee is recognised on the first day of its anniversary month."""
    for order in orders:
        agent = order["plan"]["agent_id"] or ""
        customer = order["customer_id"]
        if customer in no_revenue or agent in no_revenue:
            continue
        if (filters.customers is not None and customer not in filters.customers) or (
            filters.agents is not None and agent not in filters.agents
        ):
            continue
        values = {"customer": customer, "agent": agent, "event_name": ""}
        key = tuple(values[d] for d in dims)
        currency = order["plan"]["currency"]
        # Days whose start lies in the period; a day counts if the order is in force for
        # any part of it (the invoices' proration rule).
        first = max(lo, order["starts_at"] - order["starts_at"] % DAY_US)
        day = first + (-first % DAY_US)
        last = hi if order["ends_at"] is None else min(hi, order["ends_at"])
        while day < last:
            ends = order["ends_at"]
            if order["starts_at"] < day + DAY_US and (ends is None or ends > day):
                amount = _fee_day(order, day)
                if amount:
                    row = facts.rows[(*key, _window_of(windows, max(day, lo)), currency)]
                    row.revenue += amount
                    row.has_revenue = True
            day += DAY_US


def _fee_day(order: dict[str, Any], day: int) -> int:
    period = period_of(day)
    start, end = month_bounds(period)
    days = (end - start) // DAY_US
    index = (day - start) // DAY_US
    total = 0
    for fee in order["charges"]["fees"]:
        nanos = to_nanos(Decimal(fee["amount"]))
        if fee["interval"] == "monthly":
            total += nanos * (index + 1) // days - nanos * index // days
        elif index == 0 and period[5:] == period_of(order["starts_at"])[5:]:
            total += nanos
    return total
