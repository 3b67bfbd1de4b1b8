"""Attribution: a trace's costs belong to its earliest cost-tracing signal.

Whichever arrives first, the result is the same: a cost arriving after the signal is linked
at insert; a signal arriving after its costs re-links them. A trace with several
cost-tracing signals still links each cost to exactly one (the earliest by time, then id), so
nothing is counted twice; such a trace is flagged when it is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    bindparam,
    select,
    text,
    union_all,
    update,
)

from margin.store.rollups import CostRollup, cost_key
from margin.store.schema import NOT_OTLP, OTLP, costs, signals

__all__ = ["otlp_trace_costs", "relink_traces", "trace_costs", "winners"]

_CHUNK = 500
_ID = attrgetter("id")


def otlp_trace_costs(
    org_id: str, trace_ids: Sequence[str], columns: Sequence[Any], *where: ColumnElement[bool]
) -> Select[Any]:
    """The ``columns`` of the costs received over OTLP of these traces, read through their
    unique index ``uq_costs_otlp`` (its predicate is written as a literal, so that a
    planner can match it)."""
    return select(*columns).where(
        costs.c.org_id == org_id, text(OTLP), costs.c.trace_id.in_(trace_ids), *where
    )


def trace_costs(
    org_id: str, trace_ids: Sequence[str], columns: Sequence[Any], *where: ColumnElement[bool]
) -> CompoundSelect[Any]:
    """The ``columns`` of all the costs of these traces: those received over OTLP through
    ``uq_costs_otlp``, the others through ``ix_costs_traced`` (see ``schema.costs``)."""
    others = select(*columns).where(
        costs.c.org_id == org_id, text(NOT_OTLP), costs.c.trace_id.in_(trace_ids), *where
    )
    return union_all(otlp_trace_costs(org_id, trace_ids, columns, *where), others)


def winners(conn: Connection, org_id: str, trace_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """trace id → (signal id, event name) of its earliest cost-tracing signal."""
    wanted = sorted(set(trace_ids))
    result: dict[str, tuple[str, str]] = {}
    if not wanted:
        return result
    if conn.dialect.name == "postgresql":
        # One array parameter: an IN list of hundreds of parameters is a new statement text
        # for every count, parsed and planned each time.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(
            "SELECT trace_id, id, event_name FROM signals WHERE org_id = %s "
            "AND trace_id = ANY(%s) AND cost_tracing ORDER BY trace_id, ts, id",
            (org_id, wanted),
        )
        for trace_id, signal_id, event_name in cursor.fetchall():
            result.setdefault(trace_id, (signal_id, event_name))
        return result
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(
            select(signals.c.trace_id, signals.c.id, signals.c.event_name)
            .where(
                signals.c.org_id == org_id,
                signals.c.trace_id.in_(chunk),
                signals.c.cost_tracing.is_(True),
            )
            .order_by(signals.c.trace_id, signals.c.ts, signals.c.id)
        )
        for row in rows:
            result.setdefault(row.trace_id, (row.id, row.event_name))
    return result


def relink_traces(
    conn: Connection, org_id: str, trace_ids: Iterable[str], rollup: CostRollup
) -> int:
    """Point every trace-attributed cost of these traces at the trace's winner, moving its
    amount between rollup rows. Returns how many costs moved. (A few statements for any
    number of traces: one read of their costs, one update of the moved ones.)"""
    won = winners(conn, org_id, trace_ids)
    if not won:
        return 0
    stale = []
    traced = sorted(won)
    columns = (
        costs.c.id,
        costs.c.trace_id,
        costs.c.signal_id,
        costs.c.ts,
        costs.c.customer_id,
        costs.c.agent_id,
        costs.c.provider,
        costs.c.model,
        costs.c.currency,
        costs.c.amount_nanos,
    )
    for start in range(0, len(traced), _CHUNK):
        chunk = traced[start : start + _CHUNK]
        rows = conn.execute(trace_costs(org_id, chunk, columns, costs.c.source != "signal"))
        stale += [r for r in rows if r.signal_id != won[r.trace_id][0]]
    if not stale:
        return 0
    old_names = _event_names(conn, org_id, {r.signal_id for r in stale if r.signal_id})
    for row in stale:
        dims = (row.customer_id, row.agent_id)
        tail = (row.provider, row.model, row.currency)
        old = cost_key(org_id, row.ts, *dims, old_names.get(row.signal_id or "", ""), *tail)
        rollup.add(old, row.amount_nanos, sign=-1)
        event_name = won[row.trace_id][1]
        rollup.add(cost_key(org_id, row.ts, *dims, event_name, *tail), row.amount_nanos)
    # In id order: concurrent writers update shared rows in one order.
    moves = [{"cid": r.id, "sid": won[r.trace_id][0]} for r in sorted(stale, key=_ID)]
    conn.execute(
        update(costs)
        .where(costs.c.org_id == org_id, costs.c.id == bindparam("cid"))
        .values(signal_id=bindparam("sid")),
        moves,
    )
    return len(stale)


def _event_names(conn: Connection, org_id: str, signal_ids: set[str]) -> dict[str, str]:
    if not signal_ids:
        return {}
    wanted = sorted(signal_ids)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            select(signals.c.id, signals.c.event_name).where(
                signals.c.org_id == org_id, signals.c.id.in_(wanted[start : start + _CHUNK])
            )
        )
        found.update({r.id: r.event_name for r in rows})
    return found
