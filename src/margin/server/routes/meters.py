"""``/v1/meters``: meter CRUD and queries; ``GET /v1/events`` lists (unmatched) raw events.
The services are in ``margin.billing.meters`` and ``margin.billing.metering``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from margin._calendar import load_zone
from margin._money import format_decimal, from_nanos
from margin._time import isoformat
from margin.billing.metering import MeterQuery, render_value, run_query, window_rows
from margin.billing.meters import (
    MeterIn,
    MeterStore,
    create_meter,
    delete_meter,
    get_meter,
    render_meter,
    replace_meter,
)
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.params import period_param
from margin.server.problems import Problem
from margin.server.routes._billing_api import EventList, MeterList, MeterOut, MeterQueryOut
from margin.server.state import AppState
from margin.store.directory import CUSTOMERS
from margin.store.keys import Principal
from margin.store.schema import events, meters

__all__ = ["router"]

router = APIRouter(tags=["meters"], route_class=ExactJsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


@router.post("/v1/meters", status_code=201, response_model=MeterOut, summary="Create a meter")
def create(body: MeterIn, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        return render_meter(create_meter(conn, principal.org_id, body))


@router.get("/v1/meters", response_model=MeterList, summary="List meters")
def list_(
    request: Request,
    principal: Reader,
    event_type: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        rows = MeterStore(conn, principal.org_id).list(event_type)
    return {"data": [render_meter(r) for r in rows]}


@router.get("/v1/meters/{key}", response_model=MeterOut, summary="Get a meter")
def get(key: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return render_meter(get_meter(conn, principal.org_id, key))


@router.put("/v1/meters/{key}", response_model=MeterOut, summary="Replace a meter's definition")
def replace(key: str, body: MeterIn, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        return render_meter(replace_meter(conn, principal.org_id, key, body))


@router.delete("/v1/meters/{key}", status_code=204, summary="Delete a meter")
def delete(key: str, request: Request, principal: Admin) -> Response:
    with AppState.of(request).db.write() as conn:
        delete_meter(conn, principal.org_id, key)
    return Response(status_code=204)


@router.get(
    "/v1/meters/{key}/query",
    response_model=MeterQueryOut,
    summary="Query a meter: total, windows and groups",
)
def query(
    key: str,
    request: Request,
    principal: Reader,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    window: Literal["minute", "hour", "day", "month"] | None = None,
    tz: Annotated[str, Query(max_length=64)] = "UTC",
    customer: Annotated[list[str] | None, Query()] = None,
    group_by: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """``filter[dim]=value`` (repeatable) keeps events whose dimension equals a value;
    ``customer`` takes external ids; ``group_by`` takes dimension names (or ``customer``),
    repeated or comma-separated."""
    lo, hi = period_param(from_, to, whole_hours=False)
    try:
        zone = load_zone(tz)
    except ValueError as exc:
        raise Problem(422, f"tz: {exc}", field="tz") from None
    dims = [d for item in group_by or [] for d in item.split(",") if d]
    filters: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name.startswith("filter[") and name.endswith("]"):
            filters.setdefault(name[7:-1], []).append(value)
    with AppState.of(request).db.read() as conn:
        meter = get_meter(conn, principal.org_id, key)
        known = {*meter["group_by"], "customer"}
        for dim in [*dims, *filters]:
            if dim not in known:
                field = "group_by" if dim in dims else f"filter[{dim}]"
                raise Problem(422, f"meter '{key}' has no dimension '{dim}'", field=field)
        customer_ids = None
        if customer:
            found = CUSTOMERS.resolve(conn, principal.org_id, customer, create=False)
            customer_ids = [found[c] for c in customer if c in found]
        meter_query = MeterQuery(lo, hi, window, zone, customer_ids, dims, filters)
        result = run_query(conn, principal.org_id, meter, meter_query)
    costs = meter["kind"] == "cost"

    def money(aggregate: Any) -> str | None:
        return format_decimal(from_nanos(aggregate.cost)) if costs else None

    total = result.total.value()
    return {
        "meter": key,
        "aggregation": meter["aggregation"],
        "kind": meter["kind"],
        "from": isoformat(lo),
        "to": isoformat(hi),
        "tz": tz,
        "window": window,
        "value": render_value(total),
        "events": result.total.events,
        "currency": meter["currency"],
        "cost": money(result.total),
        "windows": [
            {
                "window_start": isoformat(w["window_start"]),
                "window_end": isoformat(w["window_end"]),
                "value": render_value(w["value"]),
                "events": w["events"],
                "cost": money(result.windows[w["window_start"]]),
            }
            for w in (window_rows(result, meter_query) if window else [])
        ],
        "groups": [
            {
                "group_by": dict(zip(dims, group, strict=True)),
                "value": render_value(agg.value()),
                "events": agg.events,
                "cost": money(agg),
            }
            for group, agg in sorted(result.groups.items(), key=lambda kv: str(kv[0]))
        ],
    }


@router.get("/v1/events", tags=["ingest"], response_model=EventList, summary="List raw events")
def list_events(
    request: Request,
    principal: Reader,
    unmatched: bool = False,
    type: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Events newest-id first; ``unmatched=true`` keeps those no meter reads (they are stored
    all the same, and a meter created later measures them)."""
    stmt = select(events).where(events.c.org_id == principal.org_id)
    if unmatched:
        types = select(meters.c.event_type).where(meters.c.org_id == principal.org_id)
        stmt = stmt.where(events.c.type.not_in(types))
    if type is not None:
        stmt = stmt.where(events.c.type == type)
    if cursor:
        stmt = stmt.where(events.c.id < cursor)
    with AppState.of(request).db.read() as conn:
        rows = conn.execute(stmt.order_by(events.c.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    return {
        "data": [
            {
                "id": r.id,
                "type": r.type,
                "customer_id": r.customer_id,
                "timestamp": isoformat(r.ts),
                "data": r.data,
                "idempotency_key": r.idempotency_key,
            }
            for r in page
        ],
        "next_cursor": page[-1].id if len(rows) > limit else None,
    }
