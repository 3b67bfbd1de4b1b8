"""Exports: the raw facts of a period (costs, signals, metering events, invoice lines) as
flat rows, read in keyset-paged chunks so that an export of any size holds one chunk in
memory at a time. Each chunk is read in its own short transaction: a slow reader never
keeps a connection (or a SQLite snapshot) open between chunks.

Rows carry money as the API shows it (exact decimal strings beside the currency) and times
as RFC 3339 UTC text; ``customer``/``agent`` are the external ids beside Margin's ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, Table, and_, or_, select

from margin._money import format_decimal, from_nanos
from margin._time import isoformat
from margin.store.archived import refuse_archived
from margin.store.db import Database
from margin.store.schema import agents, costs, customers, events, invoices, signals

__all__ = ["COLUMNS", "KINDS", "Column", "ExportKind", "export_chunks"]

ExportKind = Literal["costs", "signals", "events", "invoice_lines"]
KINDS: tuple[ExportKind, ...] = ("costs", "signals", "events", "invoice_lines")
#: Rows per chunk: large enough that per-query overhead is small, small enough to stream.
CHUNK_ROWS = 2000
# An invoice holds a handful of lines: this many invoices make a chunk of about CHUNK_ROWS.
_INVOICES_PER_CHUNK = 200


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an export: ``json`` values are documents (text in CSV and Parquet)."""

    name: str
    type: Literal["text", "bool", "int", "json"] = "text"


def _columns(spec: str) -> tuple[Column, ...]:
    """Columns from ``"a b:bool c:json"``."""
    out = []
    for word in spec.split():
        name, _, kind = word.partition(":")
        out.append(Column(name, kind or "text"))  # type: ignore[arg-type]
    return tuple(out)


COLUMNS: dict[ExportKind, tuple[Column, ...]] = {
    "costs": _columns(
        "id ts customer_id customer agent_id agent signal_id trace_id span_id response_id "
        "provider model operation amount currency priced_by price_ref unpriced_reason "
        "usage:json price_context:json source idempotency_key created_at"
    ),
    "signals": _columns(
        "id ts event_name customer_id customer agent_id agent trace_id cost_tracing:bool "
        "data:json source idempotency_key created_at"
    ),
    "events": _columns("id ts type customer_id customer data:json idempotency_key created_at"),
    "invoice_lines": _columns(
        "invoice_id invoice_number status customer_id customer currency period period_start "
        "period_end line:int type key description order_id event_name quantity unit_price "
        "amount exact_amount cost margin"
    ),
}


def _amount(nanos: int | None) -> str | None:
    return None if nanos is None else format_decimal(from_nanos(nanos))


def _cost_row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "ts": isoformat(r.ts),
        "customer_id": r.customer_id,
        "customer": r.customer,
        "agent_id": r.agent_id,
        "agent": r.agent,
        "signal_id": r.signal_id,
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "response_id": r.response_id,
        "provider": r.provider,
        "model": r.model,
        "operation": r.operation,
        "amount": _amount(r.amount_nanos),
        "currency": r.currency,
        "priced_by": r.priced_by,
        "price_ref": r.price_ref,
        "unpriced_reason": r.unpriced_reason,
        "usage": r.usage,
        "price_context": r.price_context,
        "source": r.source,
        "idempotency_key": r.idempotency_key,
        "created_at": isoformat(r.created_at),
    }


def _signal_row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "ts": isoformat(r.ts),
        "event_name": r.event_name,
        "customer_id": r.customer_id,
        "customer": r.customer,
        "agent_id": r.agent_id,
        "agent": r.agent,
        "trace_id": r.trace_id,
        "cost_tracing": bool(r.cost_tracing),
        "data": r.data,
        "source": r.source,
        "idempotency_key": r.idempotency_key,
        "created_at": isoformat(r.created_at),
    }


def _event_row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "ts": isoformat(r.ts),
        "type": r.type,
        "customer_id": r.customer_id,
        "customer": r.customer,
        "data": r.data,
        "idempotency_key": r.idempotency_key,
        "created_at": isoformat(r.created_at),
    }


def _with_parties(table: Table, org_id: str, *, agent: bool) -> Select[Any]:
    """The fact table's rows with the external ids of their customer (and agent)."""
    cols: list[Any] = [table, customers.c.external_id.label("customer")]
    joined = table.outerjoin(
        customers, and_(customers.c.id == table.c.customer_id, customers.c.org_id == org_id)
    )
    if agent:
        cols.append(agents.c.external_id.label("agent"))
        joined = joined.outerjoin(
            agents, and_(agents.c.id == table.c.agent_id, agents.c.org_id == org_id)
        )
    return select(*cols).select_from(joined)


def _after(time: ColumnElement[Any], id_: ColumnElement[Any], last: tuple[int, str]) -> Any:
    """The keyset condition ``(time, id) > last``, in place of the period's start (which
    ``last`` is past). ``time >= last time`` is stated on its own: it is what lets both
    stores start the index range where the last chunk ended (neither derives it from the
    ``OR``), so each chunk costs its own rows, not the rows before it."""
    return and_(time >= last[0], or_(time > last[0], and_(time == last[0], id_ > last[1])))


def _facts(
    db: Database, org_id: str, kind: ExportKind, lo: int, hi: int, size: int
) -> Iterator[list[dict[str, Any]]]:
    table, view, agent = {
        "costs": (costs, _cost_row, True),
        "signals": (signals, _signal_row, True),
        "events": (events, _event_row, False),
    }[kind]
    base = _with_parties(table, org_id, agent=agent).where(
        table.c.org_id == org_id, table.c.ts < hi
    )
    last: tuple[int, str] | None = None
    while True:
        since = table.c.ts >= lo if last is None else _after(table.c.ts, table.c.id, last)
        stmt = base.where(since)
        with db.read() as conn:
            rows = conn.execute(stmt.order_by(table.c.ts, table.c.id).limit(size)).all()
        if rows:
            yield [view(r) for r in rows]
        if len(rows) < size:
            return
        last = (rows[-1].ts, rows[-1].id)


def _line_rows(inv: Any) -> list[dict[str, Any]]:
    head = {
        "invoice_id": inv.id,
        "invoice_number": inv.number,
        "status": inv.status,
        "customer_id": inv.customer_id,
        "customer": inv.customer,
        "currency": inv.currency,
        "period": inv.period,
        "period_start": isoformat(inv.period_start),
        "period_end": isoformat(inv.period_end),
    }
    out = []
    for n, line in enumerate(inv.lines or (), start=1):
        row = dict(head, line=n)
        for name in ("type", "key", "description", "order_id", "event_name", "quantity"):
            row[name] = line.get(name)
        for name in ("unit_price", "amount", "exact_amount", "cost", "margin"):
            row[name] = line.get(name)
        out.append(row)
    return out


def _invoice_lines(
    db: Database, org_id: str, lo: int, hi: int, size: int
) -> Iterator[list[dict[str, Any]]]:
    """The lines of the invoices whose period starts in ``[lo, hi)``, every status."""
    base = _with_parties(invoices, org_id, agent=False).where(
        invoices.c.org_id == org_id, invoices.c.period_start < hi
    )
    last: tuple[int, str] | None = None
    order = (invoices.c.period_start, invoices.c.id)
    while True:
        stmt = base.where(order[0] >= lo if last is None else _after(*order, last))
        with db.read() as conn:
            found = conn.execute(stmt.order_by(*order).limit(size)).all()
        rows = [row for inv in found for row in _line_rows(inv)]
        if rows:
            yield rows
        if len(found) < size:
            return
        last = (found[-1].period_start, found[-1].id)


def export_chunks(
    db: Database,
    org_id: str,
    kind: ExportKind,
    start_us: int,
    end_us: int,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[list[dict[str, Any]]]:
    """The ``kind`` rows of the organization with times in ``[start_us, end_us)``, oldest
    first, in chunks of at most ``chunk_rows`` rows (invoice lines: by whole invoices). A
    range reaching an archived month is refused here, before the first byte is sent."""
    if kind == "invoice_lines":
        per_chunk = max(1, chunk_rows * _INVOICES_PER_CHUNK // CHUNK_ROWS)
        return _invoice_lines(db, org_id, start_us, end_us, per_chunk)
    with db.read() as conn:
        refuse_archived(conn, start_us, end_us, "start")
    return _facts(db, org_id, kind, start_us, end_us, chunk_rows)
