"""``POST /v1/traces`` (OTLP/HTTP, protobuf or JSON, gzip) and the attribution views: a trace
with its spans, costs and signals; a signal with its attributed cost; flagged traces; costs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import ColumnElement, Connection, Table, func, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from margin._money import format_decimal, from_nanos
from margin._time import isoformat, now_micros
from margin.server._rows import insert_tuples
from margin.server.auth import require
from margin.server.ledger import BatchResult, Ledger
from margin.server.otlp import (
    AGENT_KEYS,
    CUSTOMER_KEYS,
    JSON,
    PROTOBUF,
    SPAN_COLUMNS,
    Converted,
    OtlpError,
    TooLarge,
    convert,
    decode,
    spans_of,
)
from margin.server.params import time_param
from margin.server.problems import Problem, problem_response
from margin.server.responses import JSONResponse
from margin.server.state import AppState
from margin.store.attribution import trace_costs
from margin.store.db import Database
from margin.store.keys import Principal
from margin.store.schema import agents, costs, customers, signals, spans

__all__ = ["Received", "receive", "router"]

router = APIRouter(tags=["traces"])

Ingest = Annotated[Principal, Depends(require("ingest"))]
Read = Annotated[Principal, Depends(require("read"))]
Limit = Annotated[int, Query(ge=1, le=500)]


@dataclass
class Received:
    """The outcome of one export: spans accepted, and the reasons of those rejected."""

    spans: int
    rejected: list[str]


def _stored_parties(db: Database, org_id: str, trace_ids: set[str]) -> dict[str, Any]:
    """(customer, agent) of traces from their spans stored by earlier exports."""
    found: dict[str, tuple[str | None, str | None]] = {}
    with db.read() as conn:
        rows = conn.execute(
            select(spans.c.trace_id, spans.c.attributes).where(
                spans.c.org_id == org_id, spans.c.trace_id.in_(sorted(trace_ids))
            )
        )
        for row in rows:
            attrs = row.attributes or {}
            customer = next((str(attrs[k]) for k in CUSTOMER_KEYS if attrs.get(k)), None)
            agent = next((str(attrs[k]) for k in AGENT_KEYS if attrs.get(k)), None)
            old = found.get(row.trace_id, (None, None))
            found[row.trace_id] = (old[0] or customer, old[1] or agent)
    return found


_SPAN_KEY = ("org_id", "trace_id", "span_id")
_SPAN_COLUMNS = ("org_id", *SPAN_COLUMNS, "created_at")
_SPAN_ORDER = itemgetter(1, 2)  # trace_id, span_id


def _span_values(org_id: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Span rows as inserted: the tenant first, attributes as JSON text, in key order (one
    lock order for concurrent writers, shared index pages). Made before the write
    transaction, so the store's one writer does not wait on it."""
    now = now_micros()
    dumps = orjson.dumps
    values = [(org_id, *row[:7], dumps(row[7]).decode(), row[8], now) for row in rows]
    values.sort(key=_SPAN_ORDER)
    return values


def _failures(result: BatchResult, items: list[dict[str, Any]], kind: str) -> list[str]:
    reasons = []
    for r in result.items:
        if r.status == "conflict" and ":resp:" in (r.idempotency_key or ""):
            # The same provider response recorded by another span of the call: one cost.
            r.status = "duplicate"
        elif r.status in ("failed", "conflict"):
            span = items[r.index].get("span_id") or items[r.index]["idempotency_key"]
            reasons.append(f"{kind} of span {span}: {r.field}: {r.detail}")
    return reasons


def receive(state: AppState, org_id: str, request: Any) -> Received:
    """Store an ``ExportTraceServiceRequest``'s spans, signals and costs in one transaction;
    returns after its commit, so an acknowledgement means durable."""
    found, rejected = spans_of(request)
    converted: Converted = convert(found, lambda traces: _stored_parties(state.db, org_id, traces))
    rejected += converted.rejected
    pending = _span_values(org_id, converted.span_rows)

    def store_spans(conn: Connection) -> None:
        # A span stored by an earlier export is kept as it was.
        insert_tuples(conn, spans.name, _SPAN_COLUMNS, pending, _SPAN_KEY)

    ledger = Ledger(state.db, state.pricer, state.settings)
    signal_result, cost_result = ledger.ingest_export(
        org_id,
        converted.signals,
        converted.costs,
        source="otlp",
        before_commit=store_spans if pending else None,
    )
    rejected += _failures(signal_result, converted.signals, "signal")
    rejected += _failures(cost_result, converted.costs, "cost")
    return Received(len(found), rejected)


def _answer(received: Received, media_type: str) -> Response:
    message = ExportTraceServiceResponse()
    if received.rejected:
        message.partial_success.rejected_spans = len(received.rejected)
        message.partial_success.error_message = "; ".join(received.rejected[:20])[:4000]
    if media_type == PROTOBUF:
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    body: dict[str, Any] = {}
    if received.rejected:
        body["partialSuccess"] = {
            "rejectedSpans": str(message.partial_success.rejected_spans),
            "errorMessage": message.partial_success.error_message,
        }
    return Response(orjson.dumps(body), media_type=JSON)


def _error(status: int, detail: str, field: str, media_type: str) -> Response:
    if media_type == PROTOBUF:
        code = 3 if status == 400 else 8  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED
        body = Status(code=code, message=f"{field}: {detail}").SerializeToString()
        return Response(body, status_code=status, media_type=PROTOBUF)
    return problem_response(Problem(status, detail, field=field))


@router.post("/v1/traces", summary="Receive OpenTelemetry traces (OTLP/HTTP)")
async def export_traces(request: Request, principal: Ingest) -> Response:
    """OTLP/HTTP: ``application/x-protobuf`` or ``application/json``, optionally gzip."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (PROTOBUF, JSON):
        raise Problem(415, f"content type must be {PROTOBUF} or {JSON}", field="content-type")
    state = AppState.of(request)
    body = await request.body()
    encoding = request.headers.get("content-encoding", "")
    try:
        message = decode(body, media_type, encoding, state.settings.max_body_bytes)
    except OtlpError as exc:
        if exc.field == "content-encoding":
            raise Problem(415, str(exc), field=exc.field) from None
        return _error(400, str(exc), exc.field, media_type)
    except TooLarge as exc:
        return _error(413, str(exc), "body", media_type)
    received = await run_in_threadpool(receive, state, principal.org_id, message)
    return _answer(received, media_type)


# -- views ------------------------------------------------------------------------------------


def _money(totals: Mapping[str, int]) -> dict[str, str]:
    return {cur: format_decimal(from_nanos(n)) for cur, n in sorted(totals.items())}


def _cost_view(row: Any) -> dict[str, Any]:
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
        "ts": isoformat(row.ts),
        "source": row.source,
    }


def _signal_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_name": row.event_name,
        "customer_id": row.customer_id,
        "agent_id": row.agent_id,
        "ts": isoformat(row.ts),
        "data": row.data,
        "trace_id": row.trace_id,
        "cost_tracing": row.cost_tracing,
        "idempotency_key": row.idempotency_key,
        "source": row.source,
    }


def _trace_id(value: str) -> str:
    value = value.strip().lower()
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise Problem(422, "trace_id must be 32 hexadecimal digits", field="trace_id")
    return value


def _attribution(signal_rows: list[Any], cost_rows: list[Any]) -> dict[str, Any]:
    tracing = [s for s in signal_rows if s.cost_tracing]
    winner = tracing[0] if tracing else None
    total: dict[str, int] = {}
    attributed: dict[str, int] = {}
    for row in cost_rows:
        if row.amount_nanos is None:
            continue
        total[row.currency] = total.get(row.currency, 0) + row.amount_nanos
        if winner is not None and row.signal_id == winner.id:
            attributed[row.currency] = attributed.get(row.currency, 0) + row.amount_nanos
    flagged = len(tracing) > 1
    return {
        "signal_id": winner.id if winner else None,
        "event_name": winner.event_name if winner else None,
        "reason": "the earliest cost-tracing signal of the trace"
        if winner
        else "no cost-tracing signal in this trace",
        "cost_total": _money(total),
        "attributed_cost": _money(attributed),
        "unpriced": sum(1 for r in cost_rows if r.priced_by == "unpriced"),
        "flagged": flagged,
        "flag_reason": (
            f"several cost-tracing signals; costs attributed to the earliest, {winner.id}"
            if flagged and winner
            else None
        ),
    }


@router.get("/v1/traces/{trace_id}", summary="A trace: spans, costs, signals, attribution")
def get_trace(trace_id: str, request: Request, principal: Read) -> JSONResponse:
    """Everything recorded for one trace, and which signal its costs are attributed to."""
    tid, org = _trace_id(trace_id), principal.org_id
    with AppState.of(request).db.read() as conn:
        span_rows = conn.execute(
            select(spans)
            .where(spans.c.org_id == org, spans.c.trace_id == tid)
            .order_by(spans.c.start_us, spans.c.span_id)
        ).all()
        found = trace_costs(org, [tid], [costs]).subquery()
        cost_rows = conn.execute(select(found).order_by(found.c.ts, found.c.id)).all()
        signal_rows = conn.execute(
            select(signals)
            .where(signals.c.org_id == org, signals.c.trace_id == tid)
            .order_by(signals.c.ts, signals.c.id)
        ).all()
    if not (span_rows or cost_rows or signal_rows):
        raise Problem(404, f"no trace '{tid}'", field="trace_id")
    return JSONResponse(
        {
            "trace_id": tid,
            "spans": [
                {
                    "span_id": s.span_id,
                    "parent_span_id": s.parent_span_id,
                    "name": s.name,
                    "kind": s.kind,
                    "start": isoformat(s.start_us),
                    "end": isoformat(s.end_us),
                    "status": s.status,
                    "attributes": s.attributes,
                }
                for s in span_rows
            ],
            "costs": [_cost_view(r) for r in cost_rows],
            "signals": [_signal_view(r) for r in signal_rows],
            "attribution": _attribution(list(signal_rows), list(cost_rows)),
        }
    )


@router.get("/v1/traces", summary="List traces (flagged=true: several cost-tracing signals)")
def list_traces(
    request: Request,
    principal: Read,
    flagged: bool = False,
    from_: Since = None,
    to: Until = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> JSONResponse:
    """Traces by id; with ``flagged=true`` only those holding several cost-tracing signals.
    ``from``/``to`` keep the traces active in that time: a span ending in it, or (flagged) a
    cost-tracing signal in it. Counts are over the whole trace."""
    lo, hi = _bound(from_, "from"), _bound(to, "to")
    org = principal.org_id
    if flagged:
        count = func.count(signals.c.id).label("n")
        stmt = (
            select(signals.c.trace_id, count)
            .where(
                signals.c.org_id == org,
                signals.c.cost_tracing.is_(True),
                signals.c.trace_id.is_not(None),
            )
            .group_by(signals.c.trace_id)
            .having(func.count(signals.c.id) > 1)
        )
        tid, ts, table = signals.c.trace_id, signals.c.ts, signals
    else:
        count = func.count(spans.c.span_id).label("n")
        stmt = (
            select(spans.c.trace_id, count).where(spans.c.org_id == org).group_by(spans.c.trace_id)
        )
        tid, ts, table = spans.c.trace_id, spans.c.end_us, spans
    if lo is not None or hi is not None:
        active = select(tid).where(table.c.org_id == org)
        if flagged:
            active = active.where(signals.c.cost_tracing.is_(True))
        if lo is not None:
            active = active.where(ts >= lo)
        if hi is not None:
            active = active.where(ts < hi)
        stmt = stmt.where(tid.in_(active))
    if cursor:
        stmt = stmt.where(tid > cursor)
    with AppState.of(request).db.read() as conn:
        rows = conn.execute(stmt.order_by(tid).limit(limit + 1)).all()
    page = rows[:limit]
    key = "cost_tracing_signals" if flagged else "spans"
    data = [{"trace_id": r.trace_id, key: r.n, "flagged": flagged or None} for r in page]
    if not flagged:
        for item in data:
            item.pop("flagged")
    next_cursor = page[-1].trace_id if len(rows) > limit else None
    return JSONResponse({"data": data, "next_cursor": next_cursor})


@router.get("/v1/signals/{signal_id}", summary="A signal and the cost attributed to it")
def get_signal(signal_id: str, request: Request, principal: Read) -> JSONResponse:
    """The signal, with ``attributed_cost`` per currency and the number of its costs."""
    org = principal.org_id
    with AppState.of(request).db.read() as conn:
        row = conn.execute(
            select(signals).where(signals.c.org_id == org, signals.c.id == signal_id)
        ).first()
        if row is None:
            raise Problem(404, f"no signal '{signal_id}'", field="signal_id")
        sums = conn.execute(
            select(
                costs.c.currency,
                func.coalesce(func.sum(costs.c.amount_nanos), 0).label("nanos"),
                func.count(costs.c.id).label("n"),
                func.count(costs.c.amount_nanos).label("priced"),
            )
            .where(costs.c.org_id == org, costs.c.signal_id == signal_id)
            .group_by(costs.c.currency)
        ).all()
    body = _signal_view(row)
    body["attributed_cost"] = _money({r.currency: int(r.nanos) for r in sums if r.priced})
    body["costs"] = sum(int(r.n) for r in sums)
    body["unpriced_costs"] = sum(int(r.n) - int(r.priced) for r in sums)
    return JSONResponse(body)


def _bound(text: str | None, name: str) -> int | None:
    return None if text is None else time_param(text, name)


def _party_filter(conn: Connection, table: Table, org: str, external: str | None) -> str | None:
    """The id of the customer or agent (``table``) with that external id: None for no
    filter, "" (matching nothing) for an unknown one."""
    if external is None:
        return None
    found = conn.execute(
        select(table.c.id).where(table.c.org_id == org, table.c.external_id == external)
    ).scalar()
    return found or ""


Since = Annotated[str | None, Query(alias="from", description="From this time (inclusive).")]
Until = Annotated[str | None, Query(description="Until this time (exclusive).")]
AgentRef = Annotated[str | None, Query(description="The agent's external id.")]


def _page(
    request: Request,
    org: str,
    table: Table,
    view: Callable[[Any], dict[str, Any]],
    equals: Mapping[str, Any],
    customer: str | None,
    agent: str | None,
    from_: str | None,
    to: str | None,
    limit: int,
    cursor: str | None,
    *where: ColumnElement[bool],
) -> JSONResponse:
    """One page of a fact table (signals or costs), oldest id first, with the filters the
    list endpoints share: column equality, customer and agent external ids, time, and any
    further conditions."""
    stmt = select(table).where(table.c.org_id == org, *where)
    lo, hi = _bound(from_, "from"), _bound(to, "to")
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
        for column, ref in (
            ("customer_id", _party_filter(conn, customers, org, customer)),
            ("agent_id", _party_filter(conn, agents, org, agent)),
        ):
            if ref is not None:
                stmt = stmt.where(table.c[column] == ref)
        rows = conn.execute(stmt.order_by(table.c.id).limit(limit + 1)).all()
    page = rows[:limit]
    next_cursor = page[-1].id if len(rows) > limit else None
    return JSONResponse({"data": [view(r) for r in page], "next_cursor": next_cursor})


@router.get("/v1/signals", summary="List signals")
def list_signals(
    request: Request,
    principal: Read,
    trace_id: str | None = None,
    customer: Annotated[str | None, Query(description="The customer's external id.")] = None,
    event_name: str | None = None,
    agent: AgentRef = None,
    from_: Since = None,
    to: Until = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> JSONResponse:
    """Signals by id, filtered by trace, customer and agent (external ids), event name and
    time (``from`` inclusive, ``to`` exclusive)."""
    refs = {
        "trace_id": _trace_id(trace_id) if trace_id is not None else None,
        "event_name": event_name,
    }
    return _page(
        request,
        principal.org_id,
        signals,
        _signal_view,
        refs,
        customer,
        agent,
        from_,
        to,
        limit,
        cursor,
    )


PricedBy = Annotated[
    str | None, Query(pattern="^(provided|catalog|override|unpriced)$", description="How priced.")
]


@router.get("/v1/costs", summary="List costs")
def list_costs(
    request: Request,
    principal: Read,
    priced_by: PricedBy = None,
    trace_id: str | None = None,
    signal_id: str | None = None,
    customer: Annotated[str | None, Query(description="The customer's external id.")] = None,
    agent: AgentRef = None,
    from_: Since = None,
    to: Until = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> JSONResponse:
    """Costs by id, filtered by how they were priced, trace, signal, customer and agent
    (external ids) and time (``from`` inclusive, ``to`` exclusive)."""
    refs = {"priced_by": priced_by, "signal_id": signal_id}
    where: list[ColumnElement[bool]] = []
    if trace_id is not None:
        # Through the indexes that hold a trace's costs (see ``trace_costs``).
        ids = trace_costs(principal.org_id, [_trace_id(trace_id)], [costs.c.id])
        where.append(costs.c.id.in_(ids))
    return _page(
        request,
        principal.org_id,
        costs,
        _cost_view,
        refs,
        customer,
        agent,
        from_,
        to,
        limit,
        cursor,
        *where,
    )
