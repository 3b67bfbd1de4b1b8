"""Paygentic's cost metrics and billable metrics, kept as Margin meters (of kind ``cost`` and
``billable``), and their queries: ``costs/{id}/summary``, ``costs/report`` and
``billableMetrics/{id}/meter``, computed by Margin's meter queries.

A metric's id is its meter's key. Paygentic's ``productId``/``merchantId``/``unit`` have no
meter column: they are kept in a compat record beside the meter.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from sqlalchemy import Connection

from margin._money import format_decimal
from margin._time import isoformat
from margin.billing.metering import MeterQuery, MeterResult, run_query, window_rows
from margin.billing.meters import MeterIn, MeterStore, unit_cost
from margin.compat._common import principal
from margin.compat.paygentic.models import (
    BillableMetricIn,
    BillableMetricOut,
    CostMetricIn,
    CostMetricOut,
    CostSummary,
    MeterValue,
)
from margin.compat.records import Records
from margin.server.params import time_param
from margin.server.problems import Problem
from margin.server.state import AppState

__all__ = ["measure", "period", "register"]

_KIND = "paygentic.metric"
_UTC = ZoneInfo("UTC")
_WINDOWS = {"MINUTE": "minute", "HOUR": "hour", "DAY": "day", "MONTH": "month"}
From = Annotated[str, Query(alias="from")]


def _meter_in(body: Any, key: str, kind: str) -> MeterIn:
    aggregation = body.aggregation.lower()
    try:
        return MeterIn(
            key=key,
            name=body.name,
            event_type=body.event_type,
            # A count reads no value (Paygentic accepts one and ignores it).
            value_property=None if aggregation == "count" else body.value_property,
            aggregation=aggregation,
            group_by=body.group_by or {},
            kind=kind,
            unit_cost=getattr(body, "unit_cost", None),
            currency=getattr(body, "currency", "").upper() or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        # Margin's field as the wire names it (``unit_cost`` was sent as ``unitCost``).
        field = ".".join(to_camel(p) if isinstance(p, str) else str(p) for p in first["loc"])
        field = field or "body"
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        raise Problem(422, f"{field}: {message}", field=field) from None


def _create(
    request: Request, body: Any, prefix: str, kind: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    who = principal(request, "admin")
    key = f"{prefix}_{secrets.token_hex(10)}"
    spec = _meter_in(body, key, kind)
    extra = {
        "productId": body.product_id or "",
        "merchantId": body.merchant_id or "",
        "unit": body.unit,
        "description": getattr(body, "description", None),
        "itemId": getattr(body, "item_id", None),
    }
    with AppState.of(request).db.write() as conn:
        meter = MeterStore(conn, who.org_id).create(spec)
        Records(conn, who.org_id, _KIND).create(extra, external_id=key)
    return meter, extra


def _found(
    conn: Connection, org_id: str, key: str, kind: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    meter = MeterStore(conn, org_id).get(key)
    if meter is None or meter["kind"] != kind:
        what = "cost metric" if kind == "cost" else "billable metric"
        raise Problem(404, f"no {what} '{key}'", field="id")
    record = Records(conn, org_id, _KIND).get(key, external=True)
    return meter, (record or {}).get("doc", {})


def _cost_out(meter: dict[str, Any], extra: dict[str, Any]) -> CostMetricOut:
    return CostMetricOut(
        id=meter["key"],
        name=meter["name"] or meter["key"],
        currency=meter["currency"],
        unit_cost=meter["unit_cost"],
        product_id=extra.get("productId") or "",
        merchant_id=extra.get("merchantId") or "",
        unit=extra.get("unit"),
        aggregation=meter["aggregation"].upper(),
        event_type=meter["event_type"],
        value_property=meter["value_property"],
        group_by=meter["group_by"],
        created_at=isoformat(meter["created_at"]),
        updated_at=isoformat(meter["updated_at"]),
    )


def _billable_out(meter: dict[str, Any], extra: dict[str, Any]) -> BillableMetricOut:
    return BillableMetricOut(
        id=meter["key"],
        aggregation=meter["aggregation"].upper(),
        description=extra.get("description") or "",
        merchant_id=extra.get("merchantId") or "",
        name=meter["name"] or meter["key"],
        product_id=extra.get("productId") or "",
        unit=extra.get("unit") or "",
        item_id=extra.get("itemId"),
        event_type=meter["event_type"],
        value_property=meter["value_property"],
        group_by=meter["group_by"],
        created_at=isoformat(meter["created_at"]),
        updated_at=isoformat(meter["updated_at"]),
    )


def _filters(text: str | None) -> dict[str, list[str]]:
    """``filterGroupBy``: a JSON object of dimension → value (or list of values)."""
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise Problem(400, "filterGroupBy: must be a JSON object", field="filterGroupBy")
    return {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in value.items()}


def measure(
    conn: Connection,
    org_id: str,
    meter: dict[str, Any],
    lo: int,
    hi: int,
    *,
    subject: str | None = None,
    group_by: list[str] | None = None,
    window: str | None = None,
    filters: dict[str, list[str]] | None = None,
) -> tuple[MeterResult, MeterQuery]:
    dims = group_by or []
    known = {*meter["group_by"], "customer"}
    for dim in [*dims, *(filters or {})]:
        if dim not in known:
            raise Problem(400, f"groupBy: no dimension '{dim}'", field="groupBy")
    if window is not None and window not in _WINDOWS:
        raise Problem(400, f"window: must be one of {', '.join(_WINDOWS)}", field="window")
    query = MeterQuery(
        lo,
        hi,
        _WINDOWS[window] if window else None,  # type: ignore[arg-type]
        _UTC,
        [subject] if subject else None,
        dims,
        filters or {},
    )
    return run_query(conn, org_id, meter, query), query


def _text(value: Decimal | None) -> str:
    return format_decimal(value) if value is not None else "0"


def period(start: str, end: str) -> tuple[int, int]:
    lo, hi = time_param(start, "from"), time_param(end, "to")
    if hi <= lo:
        raise Problem(400, "to: must be after 'from'", field="to")
    return lo, hi


def register(router: APIRouter) -> None:
    """Add the metric routes to Paygentic's router (the report's first: its path would
    match ``costs/{id}``)."""
    from margin.compat.paygentic import report

    report.register(router)

    @router.post("/costs", status_code=201, response_model=CostMetricOut)
    def create_cost(body: CostMetricIn, request: Request) -> CostMetricOut:
        """A cost metric: cost = aggregate(``valueProperty``) × ``unitCost``."""
        return _cost_out(*_create(request, body, "cost", "cost"))

    @router.get("/costs/{cost_id}/summary", response_model=CostSummary)
    def cost_summary(
        cost_id: str,
        request: Request,
        from_: From,
        to: str,
        subject: str | None = None,
        group_by: Annotated[str | None, Query(alias="groupBy")] = None,
        window: str | None = None,
        filter_group_by: Annotated[str | None, Query(alias="filterGroupBy")] = None,
    ) -> CostSummary:
        """Quantity and cost of one cost metric over a period, by group and window."""
        who = principal(request, "read")
        lo, hi = period(from_, to)
        dims = [d for d in (group_by or "").split(",") if d]
        with AppState.of(request).db.read() as conn:
            meter, _extra = _found(conn, who.org_id, cost_id, "cost")
            result, query = measure(
                conn,
                who.org_id,
                meter,
                lo,
                hi,
                subject=subject,
                group_by=dims,
                window=window,
                filters=_filters(filter_group_by),
            )
        price = unit_cost(meter) or Decimal(0)
        total = result.total.value()
        return CostSummary(
            id=meter["key"],
            name=meter["name"] or meter["key"],
            currency=meter["currency"],
            event_type=meter["event_type"],
            total_cost=None if total is None else format_decimal(total * price),
            total_quantity=None if total is None else format_decimal(total),
            groups=[
                {
                    "dimensions": {d: v for d, v in zip(dims, key, strict=True) if v is not None},
                    "quantity": _text(agg.value()),
                    "cost": _text((agg.value() or Decimal(0)) * price),
                }
                for key, agg in sorted(result.groups.items(), key=lambda kv: str(kv[0]))
            ],
            time_series=[
                {
                    "windowStart": isoformat(w["window_start"]),
                    "windowEnd": isoformat(w["window_end"]),
                    "quantity": _text(w["value"]),
                    "cost": _text((w["value"] or Decimal(0)) * price),
                }
                for w in (window_rows(result, query) if window else [])
            ],
        )

    @router.get("/costs/{cost_id}", response_model=CostMetricOut)
    def get_cost(cost_id: str, request: Request) -> CostMetricOut:
        who = principal(request, "read")
        with AppState.of(request).db.read() as conn:
            return _cost_out(*_found(conn, who.org_id, cost_id, "cost"))

    @router.post("/billableMetrics", status_code=201, response_model=BillableMetricOut)
    def create_billable_metric(body: BillableMetricIn, request: Request) -> BillableMetricOut:
        """A billable metric: a Margin meter of kind ``billable`` (for plans' usage charges)."""
        return _billable_out(*_create(request, body, "bm", "billable"))

    @router.get("/billableMetrics/{metric_id}", response_model=BillableMetricOut)
    def get_billable_metric(metric_id: str, request: Request) -> BillableMetricOut:
        who = principal(request, "read")
        with AppState.of(request).db.read() as conn:
            return _billable_out(*_found(conn, who.org_id, metric_id, "billable"))

    @router.get("/billableMetrics/{metric_id}/meter", response_model=MeterValue)
    def meter_value(
        metric_id: str,
        request: Request,
        from_: From,
        to: str,
        subject: str | None = None,
        window_size: Annotated[str | None, Query(alias="windowSize")] = None,
        group_by: Annotated[str | None, Query(alias="groupBy")] = None,
        filter_group_by: Annotated[str | None, Query(alias="filterGroupBy")] = None,
    ) -> MeterValue:
        """The metric's value over a period (an undefined average, minimum or maximum of no
        events is answered as 0, which the SDK requires), by group and window."""
        who = principal(request, "read")
        lo, hi = period(from_, to)
        dims = [d for d in (group_by or "").split(",") if d]
        with AppState.of(request).db.read() as conn:
            meter, _extra = _found(conn, who.org_id, metric_id, "billable")
            result, query = measure(
                conn,
                who.org_id,
                meter,
                lo,
                hi,
                subject=subject,
                group_by=dims,
                window=window_size,
                filters=_filters(filter_group_by),
            )
        groups = [
            {
                "groupBy": {d: v for d, v in zip(dims, key, strict=True) if v is not None},
                "value": _text(agg.value()),
                "eventCount": agg.events,
            }
            for key, agg in sorted(result.groups.items(), key=lambda kv: str(kv[0]))
        ]
        return MeterValue(
            billable_metric_id=meter["key"],
            total_value=_text(result.total.value()),
            windowed_values=[
                {
                    "windowStart": isoformat(w["window_start"]),
                    "windowEnd": isoformat(w["window_end"]),
                    "value": _text(w["value"]),
                }
                for w in (window_rows(result, query) if window_size else [])
            ],
            grouped_values=groups,
            group_count=len(groups),
        )
