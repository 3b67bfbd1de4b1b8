"""``/v1/meters``: meter CRUD and queries; ``GET /v1/events`` lists (unmatched) raw events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from margin._money import format_decimal
from margin._time import isoformat
from margin.billing.metering import MeterQuery, render_value, run_query, window_rows
from margin.billing.meters import MeterIn, MeterStore, render_meter, unit_cost
from margin.reports.windows import load_zone
from margin.server.auth import require
from margin.server.params import period_param
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import CUSTOMERS
from margin.store.keys import Principal
from margin.store.schema import events, meters

__all__ = ["router"]

router = APIRouter(tags=["meters"])

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


def _found(row: dict[str, Any] | None, key: str) -> dict[str, Any]:
    if row is None:
        raise Problem(404, f"no meter '{key}'", field="key")
    return row


@router.post("/v1/meters", status_code=201, summary="Create a meter")
def create_meter(body: MeterIn, request: Request, principal: Admin) -> dict[str, Any]:
    try:
        with AppState.of(request).db.write() as conn:
            store = MeterStore(conn, principal.org_id)
            if store.get(body.key) is not None:
                raise Problem(409, f"a meter '{body.key}' exists", field="key")
            return render_meter(store.create(body))
    except IntegrityError:
        raise Problem(409, f"a meter '{body.key}' exists", field="key") from None


@router.get("/v1/meters", summary="List meters")
def list_meters(
    request: Request, principal: Reader, event_type: str | None = None
) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        rows = MeterStore(conn, principal.org_id).list(event_type)
    return {"data": [render_meter(r) for r in rows]}


@router.get("/v1/meters/{key}", summary="Get a meter")
def get_meter(key: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return render_meter(_found(MeterStore(conn, principal.org_id).get(key), key))


@router.put("/v1/meters/{key}", summary="Replace a meter's definition")
def replace_meter(key: str, body: MeterIn, request: Request, principal: Admin) -> dict[str, Any]:
    if body.key != key:
        raise Problem(422, "key: the body's key must match the path", field="key")
    with AppState.of(request).db.write() as conn:
        store = MeterStore(conn, principal.org_id)
        _found(store.get(key), key)
        return render_meter(_found(store.replace(key, body), key))


@router.delete("/v1/meters/{key}", status_code=204, summary="Delete a meter")
def delete_meter(key: str, request: Request, principal: Admin) -> Response:
    with AppState.of(request).db.write() as conn:
        if not MeterStore(conn, principal.org_id).delete(key):
            raise Problem(404, f"no meter '{key}'", field="key")
    return Response(status_code=204)


@router.get("/v1/meters/{key}/query", summary="Query a meter: total, windows and groups")
def query_meter(
    key: str,
    request: Request,
    principal: Reader,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    window: Literal["minute", "hour", "day", "month"] | None = None,
    tz: str = "UTC",
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
        meter = _found(MeterStore(conn, principal.org_id).get(key), key)
        known = {*meter["group_by"], "customer"}
        for dim in [*dims, *filters]:
            if dim not in known:
                field = "group_by" if dim in dims else f"filter[{dim}]"
                raise Problem(422, f"meter '{key}' has no dimension '{dim}'", field=field)
        customer_ids = None
        if customer:
            found = CUSTOMERS.resolve(conn, principal.org_id, customer, create=False)
            customer_ids = [found[c] for c in customer if c in found]
        query = MeterQuery(lo, hi, window, zone, customer_ids, dims, filters)
        result = run_query(conn, principal.org_id, meter, query)
    cost = unit_cost(meter)

    def money(value: Any) -> str | None:
        return None if cost is None or value is None else format_decimal(value * cost)

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
        "cost": money(total),
        "windows": [
            {
                "window_start": isoformat(w["window_start"]),
                "window_end": isoformat(w["window_end"]),
                "value": render_value(w["value"]),
                "events": w["events"],
                "cost": money(w["value"]),
            }
            for w in (window_rows(result, query) if window else [])
        ],
        "groups": [
            {
                "group_by": dict(zip(dims, group, strict=True)),
                "value": render_value(agg.value()),
                "events": agg.events,
                "cost": money(agg.value()),
            }
            for group, agg in sorted(result.groups.items(), key=lambda kv: str(kv[0]))
        ],
    }


@router.get("/v1/events", tags=["ingest"], summary="List raw metering events")
def list_events(
    request: Request,
    principal: Reader,
    unmatched: bool = False,
    type: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
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
