"""Paid's cost-attributed signals: ``cost_attributed_signal()`` sends a REST signal whose
``data.paid.paid_scope_id`` names the scope of the spans whose costs it claims (the SDK
stamps that id on every span of the block, and picks a new one after each such signal).

Whichever arrives first, the result is the same: an OTLP cost whose span carries a scope is
remembered (``paid_scope_costs``) and linked if its scope's signal is stored; a scope's
signal links the costs remembered so far. A scope belongs to one customer, and to the first
signal that names it. A cost keeps the signal it already has (a trace's cost-tracing signal
wins, as everywhere in Margin: a cost belongs to at most one signal).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from margin.server.otlp.decode import Span
from margin.store.rollups import CostRollup, cost_key
from margin.store.schema import OTLP, costs, paid_scope_costs, paid_scope_signals

__all__ = ["SCOPE_KEY", "claim_scope", "record_export", "scope_of"]

#: The span attribute Paid's span processor stamps on every span of a ``paid_tracing`` block.
SCOPE_KEY = "paid_scope_id"
_CHUNK = 400


def scope_of(value: Any) -> int | None:
    """A scope id as Paid sends it (a positive int; JSON may carry it as a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value < 2**63:
        return value
    return None


def _insert_ignore(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> int:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(table).on_conflict_do_nothing()
    return int(conn.execute(stmt, rows).rowcount or 0)


def _lock(conn: Connection, org_id: str, pairs: Iterable[tuple[str, int]]) -> None:
    """Serialize a scope's signal and its costs across concurrent PostgreSQL transactions
    (each would otherwise miss the other's uncommitted row). SQLite has one writer."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted({zlib.crc32(f"{org_id}:{c}:{s}".encode()) for c, s in pairs}):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def record_export(
    conn: Connection, org_id: str, spans: Sequence[Span], cost_items: Sequence[Mapping[str, Any]]
) -> None:
    """OTLP export hook (inside the export's transaction, after its costs are written):
    remember the costs of scoped spans, and link those whose scope's signal is stored."""
    scoped = {
        (s.trace_id, s.span_id): scope
        for s in spans
        if (scope := scope_of(s.attributes.get(SCOPE_KEY))) is not None
    }
    if not scoped:
        return
    rows = []
    for item in cost_items:
        scope = scoped.get((item["trace_id"], item["span_id"]))
        customer = item.get("customer")
        if scope is None or not customer:
            continue
        rows.append(
            {
                "org_id": org_id,
                "trace_id": item["trace_id"],
                "cost_key": item["idempotency_key"],
                "customer": customer,
                "scope_id": scope,
            }
        )
    if not rows:
        return
    pairs = {(r["customer"], r["scope_id"]) for r in rows}
    _lock(conn, org_id, pairs)
    _insert_ignore(conn, paid_scope_costs, rows)
    t = paid_scope_signals.c
    claimed = {}
    ordered = sorted(pairs)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        found = conn.execute(
            select(t.customer, t.scope_id, t.signal_id, t.event_name).where(
                t.org_id == org_id, tuple_(t.customer, t.scope_id).in_(chunk)
            )
        )
        claimed.update({(r.customer, r.scope_id): (r.signal_id, r.event_name) for r in found})
    by_signal: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in rows:
        winner = claimed.get((row["customer"], row["scope_id"]))
        if winner is not None:
            by_signal.setdefault(winner, []).append((row["trace_id"], row["cost_key"]))
    for (signal_id, event_name), keys in sorted(by_signal.items()):
        _claim(conn, org_id, keys, signal_id, event_name)


def claim_scope(
    conn: Connection, org_id: str, customer: str, scope_id: int, signal_id: str, event_name: str
) -> None:
    """A REST signal naming a scope (inside its ingest transaction): it claims the scope's
    costs stored so far, and those that arrive later (unless the scope was claimed)."""
    _lock(conn, org_id, [(customer, scope_id)])
    row = {
        "org_id": org_id,
        "customer": customer,
        "scope_id": scope_id,
        "signal_id": signal_id,
        "event_name": event_name,
    }
    if not _insert_ignore(conn, paid_scope_signals, [row]):
        return
    t = paid_scope_costs.c
    keys = [
        (r.trace_id, r.cost_key)
        for r in conn.execute(
            select(t.trace_id, t.cost_key).where(
                t.org_id == org_id, t.customer == customer, t.scope_id == scope_id
            )
        )
    ]
    if keys:
        _claim(conn, org_id, keys, signal_id, event_name)


def _claim(
    conn: Connection, org_id: str, keys: list[tuple[str, str]], signal_id: str, event_name: str
) -> None:
    """Attribute the unattributed OTLP costs of ``keys`` (trace id, cost key) to the signal,
    moving their amounts between rollup rows."""
    c = costs.c
    rows: list[Any] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows += conn.execute(
            select(
                c.id,
                c.ts,
                c.customer_id,
                c.agent_id,
                c.provider,
                c.model,
                c.currency,
                c.amount_nanos,
            ).where(
                c.org_id == org_id,
                text(OTLP),
                c.trace_id.in_(sorted({t for t, _ in chunk})),
                or_(*(and_(c.trace_id == t, c.idempotency_key == k) for t, k in chunk)),
                c.signal_id.is_(None),
            )
        ).all()
    if not rows:
        return
    rollup = CostRollup()
    for r in rows:
        dims = (r.customer_id, r.agent_id)
        tail = (r.provider, r.model, r.currency)
        rollup.add(cost_key(org_id, r.ts, *dims, "", *tail), r.amount_nanos, sign=-1)
        rollup.add(cost_key(org_id, r.ts, *dims, event_name, *tail), r.amount_nanos)
    conn.execute(
        update(costs)
        .where(costs.c.org_id == org_id, costs.c.id == bindparam("cid"))
        .values(signal_id=bindparam("sid")),
        [{"cid": r.id, "sid": signal_id} for r in sorted(rows, key=lambda r: r.id)],
    )
    rollup.flush(conn)
