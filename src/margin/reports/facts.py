"""Report facts: cost, revenue and signal counts over a period, keyed by dimensions, window
and currency.

- **Cost** has three sources: ``ai`` (recorded costs naming a model), ``manual`` (recorded
  costs naming none) — both read from the cost rollups — and ``meter`` (events measured by
  cost meters, each event's cost rounded to the nano-unit). Costs of ``revenue_only``
  customers and agents are left out.
- **Revenue** is the billing periods' lines as billed (``margin.billing.revenue``: a
  finalized invoice's lines, else the lines rated now), each line's amount placed in time by
  its pieces; the periods are rated whole, so a window holds exactly its part of each line.
- **Signals** are counted from the signal rollups.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, literal, or_, select, union_all

from margin._calendar import periods_between, split_days
from margin._rounding import nanos_per_minor
from margin.billing.facts import Counts, range_chunks, stretches
from margin.billing.metering import readings
from margin.billing.meters import MeterStore, event_cost
from margin.billing.revenue import PeriodLines, rate_customers
from margin.store.archived import refuse_archived
from margin.store.schema import (
    agents,
    cost_rollups,
    cost_rollups_daily,
    customers,
    events,
    invoices,
    meters,
    signal_rollups,
    signal_rollups_daily,
)

__all__ = ["DIMENSIONS", "SOURCES", "Facts", "Filters", "Row", "read_facts"]

DIMENSIONS = ("customer", "agent", "event_name", "provider", "model")
#: Where a cost comes from.
SOURCES = ("ai", "manual", "meter")
_COLUMN = {
    "customer": "customer_id",
    "agent": "agent_id",
    "event_name": "event_name",
    "provider": "provider",
    "model": "model",
}
#: Where each dimension is in a revenue or signal key (customer, agent, event name, ""):
#: revenue and signals name no provider and no model.
_PARTY = {"customer": 0, "agent": 1, "event_name": 2, "provider": 3, "model": 3}


@dataclass
class Filters:
    """Ids (not external ids) to keep; None keeps all."""

    customers: list[str] | None = None
    agents: list[str] | None = None
    event_names: list[str] | None = None


@dataclass(slots=True)
class Row:
    """Sums for one key (dimension values…, window start, currency); money in nano-units."""

    cost: int = 0
    revenue: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    records: int = 0
    unpriced: int = 0
    has_cost: bool = False
    has_revenue: bool = False
    #: Converted rows (``margin.reports.currency``): original currency → [cost, revenue]
    #: nano-units that had no exchange rate for their date, kept apart.
    unconverted: dict[str, list[int]] = field(default_factory=dict)
    #: The unconverted cost by source: original currency → {source: nano-units}.
    unconverted_sources: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Facts:
    """Rows keyed by ``(dims…, window, currency)``, and signal counts by ``(dims…, window)``."""

    rows: dict[tuple[Any, ...], Row] = field(default_factory=lambda: defaultdict(Row))
    signals: dict[tuple[Any, ...], int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class Modes:
    """What a report needs to know before it reads, in one query."""

    #: Customers and agents whose cost is not tracked (``revenue_only``).
    excluded: list[str]
    #: Agents not tracked in full.
    agents: dict[str, str]
    #: Whether a cost meter exists; whether a finalized invoice exists.
    metered: bool
    finalized: bool


def _modes(conn: Connection, org_id: str) -> Modes:
    rows = conn.execute(
        union_all(
            select(
                literal("customer").label("kind"), customers.c.id, customers.c.tracking_mode
            ).where(customers.c.org_id == org_id, customers.c.tracking_mode == "revenue_only"),
            select(literal("agent").label("kind"), agents.c.id, agents.c.tracking_mode).where(
                agents.c.org_id == org_id, agents.c.tracking_mode != "full"
            ),
            *(
                select(literal(kind).label("kind"), literal(""), literal("")).where(
                    exists().where(table.c.org_id == org_id, condition)
                )
                for kind, table, condition in (
                    ("meter", meters, meters.c.kind == "cost"),
                    ("invoice", invoices, invoices.c.status == "finalized"),
                )
            ),
        )
    ).all()
    kinds = {r.kind for r in rows}
    return Modes(
        [r.id for r in rows if r.tracking_mode == "revenue_only"],
        {r.id: r.tracking_mode for r in rows if r.kind == "agent"},
        "meter" in kinds,
        "invoice" in kinds,
    )


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


def _levels(lo: int, hi: int, windows: Sequence[int] | None) -> tuple[Any, Any]:
    exact, hourly, daily = split_days(lo, hi, windows or [])
    return sorted(exact + hourly), daily


def read_facts(
    conn: Connection,
    org_id: str,
    lo: int,
    hi: int,
    dims: Sequence[str],
    filters: Filters,
    windows: Sequence[int] | None = None,
    *,
    lines: list[PeriodLines] | None = None,
    revenue: bool | None = None,
) -> Facts:
    """Cost, revenue and signals over [lo, hi) by ``dims`` (and window starts, if given).

    ``lines`` are the rated lines whose parts in [lo, hi) are revenue; they must cover the
    billing periods of [lo, hi) with pieces cut at ``lo``, ``hi`` and the window starts
    (default: rated here). ``revenue``: whether to read revenue and signals (default: unless
    ``dims`` name a provider or model, which revenue never reaches); read with such ``dims``
    they are keyed with no provider and no model (``""``)."""
    facts = Facts()
    starts = list(windows) if windows is not None else [lo]
    hourly, daily = _levels(lo, hi, windows)
    modes = _modes(conn, org_id)
    excluded = modes.excluded
    for table, ranges in ((cost_rollups, hourly), (cost_rollups_daily, daily)):
        if ranges:
            _costs(conn, table, org_id, ranges, dims, filters, starts, facts, excluded)
    if modes.metered:
        _meter_costs(conn, org_id, lo, hi, dims, filters, starts, facts, excluded)
    if revenue is None:
        revenue = not any(d in ("provider", "model") for d in dims)
    if not revenue:
        return facts
    if lines is None:
        # One read of the signal counts serves the rating and the report's signal column.
        counts: dict[str, Counts] = {}
        lines = rate_customers(
            conn,
            org_id,
            periods_between(lo, hi),
            customer_ids=filters.customers,
            cuts=[lo, hi, *starts],
            agent_modes=modes.agents,
            finals=None if modes.finalized else [],
            counts=counts,
            field="from",
        )
        _counted(counts, lo, hi, dims, filters, starts, facts)
    else:
        for table, ranges in ((signal_rollups, hourly), (signal_rollups_daily, daily)):
            if ranges:
                _signals(conn, table, org_id, ranges, dims, filters, starts, facts)
    _revenue(lines, lo, hi, dims, filters, starts, facts)
    return facts


def _costs(
    conn: Connection,
    table: Any,
    org_id: str,
    ranges: list[tuple[int, int]],
    dims: Sequence[str],
    filters: Filters,
    starts: list[int],
    facts: Facts,
    excluded: list[str],
) -> None:
    grouped, start_of = stretches(table.c.bucket, starts)
    win = grouped.label("win")
    cols = [table.c[_COLUMN[d]] for d in dims]
    manual = case((table.c.model == "", table.c.amount_nanos), else_=0)
    for part in range_chunks(ranges):
        stmt = (
            select(
                *cols,
                win,
                table.c.currency,
                func.sum(table.c.amount_nanos).label("amount"),
                func.sum(manual).label("manual"),
                func.sum(table.c.records).label("records"),
                func.sum(table.c.unpriced).label("unpriced"),
            )
            .where(*_where(table, org_id, part, filters))
            .group_by(*cols, win, table.c.currency)
        )
        if excluded:
            excluding = (table.c.customer_id.not_in(excluded), table.c.agent_id.not_in(excluded))
            stmt = stmt.where(*excluding)
        for r in conn.execute(stmt):
            _add_cost(facts, (*r[: len(dims)], start_of(r.win), r.currency), r)


def _add_cost(facts: Facts, key: tuple[Any, ...], r: Any) -> None:
    records = int(r.records)
    if not records:
        return
    row = facts.rows[key]
    amount, by_hand = int(r.amount or 0), int(r.manual or 0)
    row.cost += amount
    sources = row.sources
    sources["ai"] = sources.get("ai", 0) + amount - by_hand
    sources["manual"] = sources.get("manual", 0) + by_hand
    row.records += records
    row.unpriced += int(r.unpriced)
    row.has_cost = True


def _meter_costs(
    conn: Connection,
    org_id: str,
    lo: int,
    hi: int,
    dims: Sequence[str],
    filters: Filters,
    starts: list[int],
    facts: Facts,
    excluded: list[str],
) -> None:
    """Costs of events measured by cost meters (no agent, no signal, no model)."""
    if filters.event_names is not None or (filters.agents is not None and "" not in filters.agents):
        return
    cost_meters = [m for m in MeterStore(conn, org_id).list() if m["kind"] == "cost"]
    if not cost_meters:
        return
    refuse_archived(conn, lo, hi, "from")  # a cost meter's costs are read from raw events
    stmt = select(events.c.id, events.c.customer_id, events.c.type, events.c.ts, events.c.data)
    stmt = stmt.where(
        events.c.org_id == org_id,
        events.c.type.in_(sorted({m["event_type"] for m in cost_meters})),
        events.c.ts >= lo,
        events.c.ts < hi,
    )
    if filters.customers is not None:
        stmt = stmt.where(events.c.customer_id.in_(filters.customers))
    by_type: dict[str, list[Any]] = defaultdict(list)
    for event in conn.execute(stmt.order_by(events.c.ts, events.c.id)):
        if (event.customer_id or "") not in excluded:
            by_type[event.type].append(event)
    for meter in cost_meters:
        for event, _raw, number in readings(meter, by_type.get(meter["event_type"], [])):
            values = {"customer": event.customer_id or "", "agent": "", "event_name": ""}
            values.update(provider="", model="")
            window = starts[bisect_right(starts, event.ts) - 1]
            row = facts.rows[(*(values[d] for d in dims), window, meter["currency"])]
            nanos = event_cost(meter, number)
            row.cost += nanos
            row.sources["meter"] = row.sources.get("meter", 0) + nanos
            row.has_cost = True


def _signals(
    conn: Connection,
    table: Any,
    org_id: str,
    ranges: list[tuple[int, int]],
    dims: Sequence[str],
    filters: Filters,
    starts: list[int],
    facts: Facts,
) -> None:
    grouped, start_of = stretches(table.c.bucket, starts)
    win = grouped.label("win")
    named = [d for d in dims if _PARTY[d] < 3]  # signal rollups have no provider, no model
    cols = [table.c[_COLUMN[d]] for d in named]
    for part in range_chunks(ranges):
        stmt = (
            select(*cols, win, func.sum(table.c.signals).label("n"))
            .where(*_where(table, org_id, part, filters))
            .group_by(*cols, win)
        )
        for r in conn.execute(stmt):
            values = dict(zip(named, r[: len(named)], strict=True))
            key = tuple(values.get(d, "") for d in dims)
            facts.signals[(*key, start_of(r.win))] += int(r.n)


def _counted(
    counts: dict[str, Counts],
    lo: int,
    hi: int,
    dims: Sequence[str],
    filters: Filters,
    starts: list[int],
    facts: Facts,
) -> None:
    """Signal counts per stretch (cut at ``lo``, ``hi`` and the windows) into the report's
    dimensions and windows."""
    picks = [_PARTY[d] for d in dims]
    agents_kept = None if filters.agents is None else set(filters.agents)
    events_kept = None if filters.event_names is None else set(filters.event_names)
    for customer, by_stretch in counts.items():
        for (ts, agent, event), n in by_stretch.items():
            if not lo <= ts < hi:
                continue
            if (agents_kept is not None and agent not in agents_kept) or (
                events_kept is not None and event not in events_kept
            ):
                continue
            values = (customer, agent, event, "")
            window = starts[bisect_right(starts, ts) - 1]
            facts.signals[(*[values[i] for i in picks], window)] += n


def _revenue(
    lines: list[PeriodLines],
    lo: int,
    hi: int,
    dims: Sequence[str],
    filters: Filters,
    starts: list[int],
    facts: Facts,
) -> None:
    """Each line's parts that fall in [lo, hi), into the rows of their window."""
    agents_kept = None if filters.agents is None else set(filters.agents)
    events_kept = None if filters.event_names is None else set(filters.event_names)
    rows = facts.rows
    picks = [_PARTY[d] for d in dims]
    for period in lines:
        scale = nanos_per_minor(period.currency)
        for line in period.lines:
            for piece, units in line.shares():
                if not lo <= piece.ts < hi:
                    continue
                if agents_kept is not None and piece.agent_id not in agents_kept:
                    continue
                if events_kept is not None and piece.event_name not in events_kept:
                    continue
                values = (period.customer_id, piece.agent_id, piece.event_name, "")
                window = starts[bisect_right(starts, piece.ts) - 1]
                row = rows[(*[values[i] for i in picks], window, period.currency)]
                row.revenue += units * scale
                row.has_revenue = True
