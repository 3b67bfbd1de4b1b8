"""How stored facts are shown by the read endpoints (signals, costs, traces), the response
models that document them, and the paging and filters the list endpoints share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Connection, Table, select

from margin._money import format_decimal, from_nanos
from margin._time import isoformat
from margin.server.params import time_param
from margin.server.problems import Problem
from margin.server.responses import JSONResponse
from margin.server.state import AppState
from margin.store.archived import refuse_archived
from margin.store.schema import agents, customers

__all__ = [
    "AgentRef",
    "CostView",
    "CustomerRef",
    "Limit",
    "Page",
    "SignalView",
    "Since",
    "Until",
    "bound",
    "cost_view",
    "money",
    "page",
    "signal_view",
    "time_text",
    "trace_id_param",
]

Limit = Annotated[int, Query(ge=1, le=500)]
Since = Annotated[str | None, Query(alias="from", description="From this time (inclusive).")]
Until = Annotated[str | None, Query(description="Until this time (exclusive).")]
AgentRef = Annotated[str | None, Query(description="The agent's external id.")]
CustomerRef = Annotated[str | None, Query(description="The customer's external id.")]
T = TypeVar("T")
_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


def time_text(micros: int) -> str:
    """RFC 3339 of a stored time. A time stored before the accepted range was enforced may
    lie outside what a date can show: it is shown at the nearest end of that range rather
    than failing the read."""
    try:
        return isoformat(micros)
    except OverflowError:
        edge = _FIRST if micros < 0 else _LAST
        return edge.isoformat().replace("+00:00", "Z")


def money(totals: Mapping[str, int]) -> dict[str, str]:
    """Amounts per currency as decimal strings."""
    return {cur: format_decimal(from_nanos(n)) for cur, n in sorted(totals.items())}


class CostView(BaseModel):
    id: str
    customer_id: str | None
    agent_id: str | None
    signal_id: str | None
    trace_id: str | None
    span_id: str | None
    response_id: str | None
    provider: str | None
    model: str | None
    operation: str | None
    usage: dict[str, Any] | None
    amount: str | None
    currency: str
    priced_by: str
    price_ref: str | None
    unpriced_reason: str | None
    price_context: dict[str, str] | None
    ts: str
    source: str
    unit_id: str | None = None  # the customer unit it is attributed to


def cost_view(row: Any) -> dict[str, Any]:
    amount = row.amount_nanos
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "agent_id": row.agent_id,
        "signal_id": row.signal_id,
        "trace_id": row.trace_id,
        "span_id": row.span_id,
        "response_id": row.response_id,
        "provider": row.provider,
        "model": row.model,
        "operation": row.operation,
        "usage": row.usage,
        "amount": format_decimal(from_nanos(amount)) if amount is not None else None,
        "currency": row.currency,
        "priced_by": row.priced_by,
        "price_ref": row.price_ref,
        "unpriced_reason": row.unpriced_reason,
        "price_context": row.price_context,
        "ts": time_text(row.ts),
        "source": row.source,
        "unit_id": row.unit_id,
    }


class SignalView(BaseModel):
    id: str
    event_name: str
    customer_id: str
    agent_id: str | None
    ts: str
    data: dict[str, Any]
    trace_id: str | None
    cost_tracing: bool
    idempotency_key: str
    source: str
    unit_id: str | None = None  # the customer unit it is attributed to


def signal_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_name": row.event_name,
        "customer_id": row.customer_id,
        "agent_id": row.agent_id,
        "ts": time_text(row.ts),
        "data": row.data,
        "trace_id": row.trace_id,
        "cost_tracing": row.cost_tracing,
        "idempotency_key": row.idempotency_key,
        "source": row.source,
        "unit_id": row.unit_id,
    }


class Page(BaseModel, Generic[T]):
    """One page of a list, oldest first; ``next_cursor`` continues it (null: the last)."""

    data: list[T]
    next_cursor: str | None


def trace_id_param(value: str) -> str:
    value = value.strip().lower()
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise Problem(422, "trace_id must be 32 hexadecimal digits", field="trace_id")
    return value


def bound(text: str | None, name: str) -> int | None:
    return None if text is None else time_param(text, name)


def _party_filter(conn: Connection, table: Table, org: str, external: str | None) -> str | None:
    """The id of the customer or agent (``table``) with that external id: None for no
    filter, "" (matching nothing) for an unknown one."""
    if external is None:
        return None
    if "\x00" in external:  # no external id holds NUL (they are refused at creation)
        return ""
    found = conn.execute(
        select(table.c.id).where(table.c.org_id == org, table.c.external_id == external)
    ).scalar()
    return found or ""


def page(
    request: Request,
    org: str,
    table: Table,
    view: Callable[[Any], dict[str, Any]],
    equals: Mapping[str, Any],
    parties: tuple[str | None, str | None],
    span: tuple[str | None, str | None],
    limit: int,
    cursor: str | None,
    *where: ColumnElement[bool],
) -> JSONResponse:
    """One page of a fact table (signals or costs), oldest id first, with the filters the
    list endpoints share: column equality, customer and agent external ids (``parties``),
    time (``span``: from, to), and any further conditions. A time range reaching an archived
    month is refused (``margin.store.archived``); a list with neither bound pages through
    what the store holds."""
    stmt = select(table).where(table.c.org_id == org, *where)
    lo, hi = bound(span[0], "from"), bound(span[1], "to")
    if lo is not None:
        stmt = stmt.where(table.c.ts >= lo)
    if hi is not None:
        stmt = stmt.where(table.c.ts < hi)
    for column, value in equals.items():
        if value is not None:
            stmt = stmt.where(table.c[column] == value)
    if cursor:
        stmt = stmt.where(table.c.id > cursor)
    with AppState.of(request).db.read() as conn:
        if lo is not None or hi is not None:
            refuse_archived(conn, lo, hi, "from" if lo is not None else "to")
        for column, ref in (
            ("customer_id", _party_filter(conn, customers, org, parties[0])),
            ("agent_id", _party_filter(conn, agents, org, parties[1])),
        ):
            if ref is not None:
                stmt = stmt.where(table.c[column] == ref)
        rows = conn.execute(stmt.order_by(table.c.id).limit(limit + 1)).all()
    rows_page = rows[:limit]
    next_cursor = rows_page[-1].id if len(rows) > limit else None
    return JSONResponse({"data": [view(r) for r in rows_page], "next_cursor": next_cursor})
