"""``POST /v1/traces`` (OTLP/HTTP, protobuf or JSON, gzip) and the trace views: a trace with
its spans, costs, signals and attribution; the list of traces (or of flagged ones)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.limits import Busy, Slots
from margin.server.otlp import Received, receive
from margin.server.otlp.decode import JSON, PROTOBUF, SPANS, OtlpError, TooLarge, decode
from margin.server.problems import Problem, problem_response
from margin.server.responses import JSONResponse
from margin.server.routes._views import (
    CostView,
    Limit,
    SignalView,
    Since,
    Until,
    bound,
    cost_view,
    money,
    signal_view,
    time_text,
    trace_id_param,
)
from margin.server.state import AppState
from margin.store.archived import refuse_archived
from margin.store.attribution import trace_costs
from margin.store.keys import Principal
from margin.store.schema import costs, signals, spans

__all__ = ["RETRY_AFTER", "export_slots", "router"]

router = APIRouter(tags=["traces"], route_class=ExactJsonRoute)

Ingest = Annotated[Principal, Depends(require("ingest"))]
Read = Annotated[Principal, Depends(require("read"))]
#: Seconds a client refused for load is asked to wait.
RETRY_AFTER = "1"


class PartialSuccess(BaseModel):
    rejectedSpans: str = Field(description="How many spans were refused (an int64 as text).")
    errorMessage: str = Field(description="Why, for the first refused spans.")


class ExportAnswer(BaseModel):
    """OTLP's ``ExportTraceServiceResponse`` (JSON); empty when every span was accepted."""

    partialSuccess: PartialSuccess | None = None


_EXPORT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            JSON: {"schema": {"type": "object", "description": "ExportTraceServiceRequest"}},
            SPANS: {
                "schema": {
                    "type": "object",
                    "description": "The Margin SDK's span format (see docs/api.md)",
                }
            },
        },
    }
}
_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {PROTOBUF: {"schema": {"type": "string", "format": "binary"}}},
        "description": "Stored (see partialSuccess): an ExportTraceServiceResponse.",
    },
    400: {"description": "Not an ExportTraceServiceRequest."},
    413: {"description": "The body, or what it inflates to, is too large."},
    415: {"description": "Not protobuf, JSON or SPANS, or an unknown Content-Encoding."},
    429: {"description": "The server is busy with other exports: retry after Retry-After."},
}


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
    headers = {"Retry-After": RETRY_AFTER} if status == 429 else None
    if media_type == PROTOBUF:
        code = 3 if status == 400 else 8  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED
        body = Status(code=code, message=f"{field}: {detail}").SerializeToString()
        return Response(body, status_code=status, media_type=PROTOBUF, headers=headers)
    return problem_response(Problem(status, detail, field=field), headers)


def export_slots(request: Request) -> Slots:
    """This process's OTLP export slots (one set per app)."""
    app_state = request.app.state
    slots: Slots | None = getattr(app_state, "otlp_slots", None)
    if slots is None:
        slots = app_state.otlp_slots = Slots(AppState.of(request).settings.max_otlp_exports)
    return slots


@router.post(
    "/v1/traces",
    summary="Receive OpenTelemetry traces (OTLP/HTTP)",
    response_model=ExportAnswer,
    responses=_EXPORT_RESPONSES,
    openapi_extra=_EXPORT_DOC,
)
async def export_traces(request: Request, principal: Ingest) -> Response:
    """OTLP/HTTP: ``application/x-protobuf`` or ``application/json``, optionally gzip; or
    the Margin SDK's span format (``application/vnd.margin.spans+json``, answered as JSON). A
    process works on at most ``MARGIN_MAX_OTLP_EXPORTS`` exports at once (their bodies and
    decoded spans are its largest use of memory); beyond it, 429 with ``Retry-After``,
    which OTLP exporters honour."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (PROTOBUF, JSON, SPANS):
        detail = f"content type must be {PROTOBUF}, {JSON} or {SPANS}"
        raise Problem(415, detail, field="content-type")
    state = AppState.of(request)
    try:
        with export_slots(request).hold():
            body = await request.body()
            encoding = request.headers.get("content-encoding", "")
            try:
                # CPU work, off the event loop: inflating, parsing, and reading the span
                # format back into OTLP (about 30 ms for an SDK batch of 2,048 spans).
                message = await run_in_threadpool(
                    decode, body, media_type, encoding, state.settings.max_body_bytes
                )
            except OtlpError as exc:
                if exc.field == "content-encoding":
                    raise Problem(415, str(exc), field=exc.field) from None
                return _error(400, str(exc), exc.field, media_type)
            except TooLarge as exc:
                return _error(413, str(exc), "body", media_type)
            del body
            if state.queue is not None:
                count = await state.queue.publish_export(principal.org_id, message)
                received = Received(count, [])
            else:
                received = await run_in_threadpool(receive, state, principal.org_id, message)
    except Busy:
        detail = "the server is storing as many exports as it may at once; retry later"
        return _error(429, detail, "body", media_type)
    return _answer(received, media_type)


# -- views ------------------------------------------------------------------------------------


class SpanView(BaseModel):
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start: str
    end: str
    status: str
    attributes: dict[str, Any]


class Attribution(BaseModel):
    signal_id: str | None
    event_name: str | None
    reason: str
    cost_total: dict[str, str]
    attributed_cost: dict[str, str]
    unpriced: int
    flagged: bool
    flag_reason: str | None


class TraceView(BaseModel):
    trace_id: str
    spans: list[SpanView]
    costs: list[CostView]
    signals: list[SignalView]
    attribution: Attribution


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
        "cost_total": money(total),
        "attributed_cost": money(attributed),
        "unpriced": sum(1 for r in cost_rows if r.priced_by == "unpriced"),
        "flagged": flagged,
        "flag_reason": (
            f"several cost-tracing signals; costs attributed to the earliest, {winner.id}"
            if flagged and winner
            else None
        ),
    }


@router.get(
    "/v1/traces/{trace_id}",
    summary="A trace: spans, costs, signals, attribution",
    response_model=TraceView,
)
def get_trace(trace_id: str, request: Request, principal: Read) -> JSONResponse:
    """Everything recorded for one trace, and which signal its costs are attributed to."""
    tid, org = trace_id_param(trace_id), principal.org_id
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
                    "start": time_text(s.start_us),
                    "end": time_text(s.end_us),
                    "status": s.status,
                    "attributes": s.attributes,
                }
                for s in span_rows
            ],
            "costs": [cost_view(r) for r in cost_rows],
            "signals": [signal_view(r) for r in signal_rows],
            "attribution": _attribution(list(signal_rows), list(cost_rows)),
        }
    )


class TraceItem(BaseModel):
    trace_id: str
    spans: int | None = None
    cost_tracing_signals: int | None = None
    flagged: bool | None = None


class TracePage(BaseModel):
    data: list[TraceItem]
    next_cursor: str | None


@router.get(
    "/v1/traces",
    summary="List traces (flagged=true: several cost-tracing signals)",
    response_model=TracePage,
)
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
    cost-tracing signal in it. Counts are over the whole trace. Flagged with a range reaching
    an archived month is refused (``margin.store.archived``): those signals are in Parquet."""
    lo, hi = bound(from_, "from"), bound(to, "to")
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
        if flagged and (lo is not None or hi is not None):  # signals: raw facts, as in lists
            refuse_archived(conn, lo, hi, "from" if lo is not None else "to")
        rows = conn.execute(stmt.order_by(tid).limit(limit + 1)).all()
    page = rows[:limit]
    key = "cost_tracing_signals" if flagged else "spans"
    data = [{"trace_id": r.trace_id, key: r.n, "flagged": flagged or None} for r in page]
    if not flagged:
        for item in data:
            item.pop("flagged")
    next_cursor = page[-1].trace_id if len(rows) > limit else None
    return JSONResponse({"data": data, "next_cursor": next_cursor})
