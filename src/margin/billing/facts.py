"""The facts a billing period is rated from, read from the store.

Signals are counted per customer × agent × event name × *stretch*: the stretches are the
intervals between cuts (the periods' bounds, the orders' edges, and any bounds a report
needs), so one order prices everything in a stretch and no stretch crosses a report window.
Counts come either from the signals themselves (``exact``, what invoices read) or from the
hourly and daily rollups with the hours a cut falls inside read from the signals (what
reports read: their latency does not grow with the number of signals). Both give the same
counts per stretch; the reconciliation test holds them to it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from margin._calendar import split_days
from margin.store.archived import ArchivedRange, within
from margin.store.late import stored_after_final
from margin.store.schema import (
    costs,
    events,
    invoices,
    signal_rollups,
    signal_rollups_daily,
    signals,
)

__all__ = [
    "Counts",
    "LateSignal",
    "PeriodFacts",
    "range_chunks",
    "read_events",
    "read_late",
    "read_outcome_costs",
    "read_outcomes",
    "stretch_expr",
    "stretch_start",
    "stretches",
]

#: (stretch start, agent id or "", event name) → count
Counts = dict[tuple[int, str, str], int]


@dataclass(frozen=True)
class LateSignal:
    """A signal that may be billed after its own period (its period was finalized first)."""

    ts: int
    created_at: int
    agent_id: str
    event_name: str
    costs: dict[str, int] = field(default_factory=dict)


@dataclass
class PeriodFacts:
    """What one customer's period is rated from (a pure input: the simulator may build one
    without the store).

    ``outcomes``: signal counts of the period per stretch. ``outcome_costs``: the AI cost
    attributed to those signals, per stretch and currency (None: not wanted). ``late``:
    earlier signals that arrived after their period's invoice was finalized. ``events``:
    the period's metering events per event type. ``meters``: meter definitions by key.
    ``credits``: what the customer's credit balances can pay, per credit currency.
    """

    outcomes: Counts = field(default_factory=dict)
    outcome_costs: dict[tuple[int, str, str], dict[str, int]] | None = None
    late: list[LateSignal] = field(default_factory=list)
    events: dict[str, list[Any]] = field(default_factory=dict)
    meters: dict[str, dict[str, Any]] = field(default_factory=dict)
    credits: dict[str, int] = field(default_factory=dict)


def stretch_expr(column: Any, starts: Sequence[int]) -> Any:
    """SQL giving the start of the stretch holding ``column`` (``starts`` sorted)."""
    if len(starts) == 1:
        return literal(starts[0])
    return case(*[(column < nxt, lo) for lo, nxt in pairwise(starts)], else_=starts[-1])


#: Stretches past this many are not told apart in SQL: a CASE takes two bind parameters a
#: stretch (a statement holds at most 32,766 on SQLite, 65,535 on PostgreSQL) and tries its
#: branches one by one on each row. A report converted day by day has a stretch a day.
_SQL_STRETCHES = 256


def stretch_start(starts: Sequence[int], value: int) -> int:
    """The start of the stretch holding ``value``, as ``stretch_expr`` gives it in SQL."""
    return starts[max(bisect_right(starts, value) - 1, 0)]


def stretches(column: Any, starts: Sequence[int]) -> tuple[Any, Callable[[int], int]]:
    """What to group rows by for the stretches of ``starts`` (sorted), and the function from a
    grouped value to the start of its stretch: ``stretch_expr``, or past ``_SQL_STRETCHES``
    the rows' own time, put in its stretch by ``stretch_start``."""
    if len(starts) <= _SQL_STRETCHES:
        return stretch_expr(column, starts), int
    return column, lambda value: stretch_start(starts, int(value))


def _in_ranges(column: Any, ranges: list[tuple[int, int]]) -> Any:
    return or_(*[and_(column >= a, column < b) for a, b in ranges])


#: Ranges one statement reads: each is a term of one OR, which SQLite nests a level deeper
#: each (1,000 levels at most), and takes two bind parameters.
_RANGES_PER_STATEMENT = 200


def range_chunks(ranges: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """``ranges`` in parts few enough for one statement each (a period cut by many windows
    that are not whole UTC days has a few ranges a window)."""
    step = _RANGES_PER_STATEMENT
    return [ranges[i : i + step] for i in range(0, len(ranges), step)]


def read_outcomes(
    conn: Connection,
    org_id: str,
    customer_ids: Iterable[str] | None,
    lo: int,
    hi: int,
    cuts: Iterable[int],
    *,
    exact: bool,
    archived: list[str] | None = None,
    field: str = "period",
) -> dict[str, Counts]:
    """Signal counts over [lo, hi) per customer, then per (stretch, agent, event name).
    ``archived``: the archived months [lo, hi) reaches; signals read one by one there (an
    hour a cut falls inside) are refused as ``ArchivedRange`` naming ``field``."""
    starts = sorted({lo, *(c for c in cuts if lo < c < hi)})
    wanted = None if customer_ids is None else sorted(set(customer_ids))
    out: dict[str, Counts] = defaultdict(lambda: defaultdict(int))
    if wanted == []:
        return out
    if exact:
        sources: list[tuple[Any, str, list[tuple[int, int]]]] = [(signals, "ts", [(lo, hi)])]
    else:
        raw, hourly, daily = split_days(lo, hi, starts)
        sources = [
            (signals, "ts", raw),
            (signal_rollups, "bucket", hourly),
            (signal_rollups_daily, "bucket", daily),
        ]
    for table, time_column, ranges in sources:
        if not ranges:
            continue
        if table is signals and archived:
            reached = sorted({m for a, b in ranges for m in within(archived, a, b)})
            if reached:
                raise ArchivedRange(field, reached)
        at = table.c[time_column]
        grouped, start_of = stretches(at, starts)
        seg = grouped.label("seg")
        count = func.count() if table is signals else func.sum(table.c.signals)
        keys = [table.c.customer_id, table.c.agent_id, table.c.event_name]
        for part in range_chunks(ranges):
            stmt = (
                select(*keys, seg, count.label("n"))
                .where(table.c.org_id == org_id, _in_ranges(at, part))
                .group_by(*keys, seg)
            )
            if wanted is not None:
                stmt = stmt.where(table.c.customer_id.in_(wanted))
            for r in conn.execute(stmt):
                key = (start_of(r.seg), r.agent_id or "", r.event_name)
                out[r.customer_id][key] += int(r.n)
    return out


def read_outcome_costs(
    conn: Connection, org_id: str, customer_id: str, lo: int, hi: int, cuts: Iterable[int]
) -> dict[tuple[int, str, str], dict[str, int]]:
    """The AI cost attributed to the customer's signals of [lo, hi), per stretch of the
    signal's time, agent, event name and currency (nano-units)."""
    starts = sorted({lo, *(c for c in cuts if lo < c < hi)})
    grouped, start_of = stretches(signals.c.ts, starts)
    seg = grouped.label("seg")
    rows = conn.execute(
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
        .where(
            signals.c.org_id == org_id,
            signals.c.customer_id == customer_id,
            signals.c.ts >= lo,
            signals.c.ts < hi,
        )
        .group_by(signals.c.agent_id, signals.c.event_name, seg, costs.c.currency)
    )
    out: dict[tuple[int, str, str], dict[str, int]] = defaultdict(dict)
    for r in rows:
        by_currency = out[(start_of(r.seg), r.agent_id or "", r.event_name)]
        by_currency[r.currency] = by_currency.get(r.currency, 0) + int(r.amount or 0)
    return out


def read_late(
    conn: Connection,
    org_id: str,
    customer_ids: Iterable[str],
    before: int,
    *,
    with_costs: bool,
) -> dict[str, list[LateSignal]]:
    """Per customer, the signals before ``before`` that were stored after their own period's
    invoice was finalized (the candidates for late lines), with their attributed AI cost when
    asked. One query, driven by the finalized invoices."""
    wanted = sorted(set(customer_ids))
    out: dict[str, list[LateSignal]] = defaultdict(list)
    if not wanted:
        return out
    rows = conn.execute(
        select(
            signals.c.id,
            signals.c.customer_id,
            signals.c.agent_id,
            signals.c.event_name,
            signals.c.ts,
            signals.c.created_at,
        )
        .select_from(signals.join(invoices, stored_after_final()))
        .where(
            signals.c.org_id == org_id,
            signals.c.customer_id.in_(wanted),
            signals.c.ts < before,
        )
        .distinct()
        .order_by(signals.c.ts, signals.c.id)
    ).all()
    nanos: dict[str, dict[str, int]] = defaultdict(dict)
    ids = [r.id for r in rows] if with_costs else []
    for start in range(0, len(ids), 500):
        for c in conn.execute(
            select(costs.c.signal_id, costs.c.currency, func.sum(costs.c.amount_nanos).label("n"))
            .where(costs.c.org_id == org_id, costs.c.signal_id.in_(ids[start : start + 500]))
            .group_by(costs.c.signal_id, costs.c.currency)
        ):
            nanos[c.signal_id][c.currency] = int(c.n or 0)
    for r in rows:
        late = LateSignal(r.ts, r.created_at, r.agent_id or "", r.event_name, nanos.get(r.id, {}))
        out[r.customer_id].append(late)
    return out


def read_events(
    conn: Connection,
    org_id: str,
    customer_ids: Iterable[str] | None,
    event_types: Iterable[str],
    lo: int,
    hi: int,
) -> dict[tuple[str, str], list[Any]]:
    """Metering events of [lo, hi) per (customer id, event type), in time order."""
    types = sorted(set(event_types))
    out: dict[tuple[str, str], list[Any]] = defaultdict(list)
    if not types:
        return out
    stmt = select(events.c.id, events.c.customer_id, events.c.type, events.c.ts, events.c.data)
    stmt = stmt.where(
        events.c.org_id == org_id,
        events.c.type.in_(types),
        events.c.ts >= lo,
        events.c.ts < hi,
    )
    if customer_ids is not None:
        stmt = stmt.where(events.c.customer_id.in_(sorted(set(customer_ids))))
    for row in conn.execute(stmt.order_by(events.c.ts, events.c.id)):
        out[(row.customer_id or "", row.type)].append(row)
    return out
