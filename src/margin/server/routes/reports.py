"""``/v1/reports``: cost, revenue, profit and margin over a period, grouped, windowed, per
outcome, per customer, and the dashboard's overview. The numbers come from
``margin.reports``; these routes only parse and answer.

Without ``from`` and ``to`` a report covers the default period: the 30 days in ``tz`` that
end with today (the CLI and the dashboard use the same). Bounds are widened to whole hours,
the resolution of the rollups.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import Connection

from margin._calendar import TooManyWindows, Window, boundaries, default_period, load_zone
from margin._time import isoformat, now_micros
from margin.reports.currency import Converter
from margin.reports.facts import DIMENSIONS, Filters
from margin.reports.outcomes import cost_per_outcome as outcome_rows
from margin.reports.outcomes import row_per_outcome
from margin.reports.overview import overview as build_overview
from margin.reports.summary import summary as build_summary
from margin.reports.tables import (
    build_table,
    figures,
    render_row,
    to_csv,
)
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.params import period_param
from margin.server.problems import Problem
from margin.server.routes._report_models import (
    CostPerOutcomeReport,
    MarginReport,
    Overview,
    SummaryReport,
    UnitEconomicsReport,
)
from margin.server.state import AppState
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.keys import Principal
from margin.store.organization import reporting_currency

__all__ = ["router"]

router = APIRouter(prefix="/v1/reports", tags=["reports"], route_class=ExactJsonRoute)

Reader = Annotated[Principal, Depends(require("read"))]
From = Annotated[str | None, Query(alias="from", description="Date or RFC 3339 time.")]
To = Annotated[str | None, Query(description="Date or RFC 3339 time (exclusive).")]
Tz = Annotated[str, Query(max_length=64, description="IANA time zone of days and windows.")]
Multi = Annotated[list[str] | None, Query()]
GroupBy = Literal["customer", "agent", "event_name", "model", "provider"]
Sort = Literal["profit", "revenue", "cost", "margin_pct", "signals", "label"]
ByCurrency = Annotated[
    bool,
    Query(
        description="Figures per original currency (one row per currency), not converted "
        "to the organization's reporting currency."
    ),
]
_OUT: dict[str, Any] = {"response_model_exclude_unset": True}


def _converter(conn: Connection, org_id: str, by_currency: bool) -> Converter | None:
    """Reports convert to the reporting currency unless asked for the original ones."""
    return None if by_currency else Converter(conn, org_id, reporting_currency(conn, org_id))


def _rates(convert: Converter | None) -> dict[str, Any]:
    return {} if convert is None else {"currency": convert.currency, "rates": convert.rates()}


def _zone(tz: str) -> ZoneInfo:
    try:
        return load_zone(tz)
    except ValueError as exc:
        raise Problem(422, f"tz: {exc}", field="tz") from None


def _period(start: str | None, end: str | None, zone: ZoneInfo) -> tuple[int, int]:
    if start or end:
        return period_param(start, end)
    return default_period(now_micros(), zone)


def _dims(group_by: list[str] | None) -> list[str]:
    dims = [d for item in group_by or [] for d in item.split(",") if d]
    for dim in dims:
        if dim not in DIMENSIONS:
            raise Problem(
                422, f"group_by: '{dim}' is not one of {', '.join(DIMENSIONS)}", field="group_by"
            )
    if len(set(dims)) != len(dims):
        raise Problem(422, "group_by: a dimension is repeated", field="group_by")
    return dims


def _filters(
    conn: Connection,
    org_id: str,
    customer: list[str] | None,
    agent: list[str] | None,
    event_name: list[str] | None,
) -> Filters:
    def ids(directory: Any, refs: list[str] | None) -> list[str] | None:
        if not refs:
            return None
        found = directory.resolve(conn, org_id, refs, create=False)
        direct = directory.existing_ids(conn, org_id, [r for r in refs if r not in found])
        return sorted(set(found.values()) | direct)

    return Filters(ids(CUSTOMERS, customer), ids(AGENTS, agent), event_name or None)


def _windows(lo: int, hi: int, window: Window | None, zone: ZoneInfo) -> list[int] | None:
    if window is None:
        return None
    try:
        return boundaries(lo, hi, window, zone)
    except TooManyWindows as exc:
        raise Problem(422, f"window: {exc}; choose a larger one", field="window") from None


@router.get("/summary", response_model=SummaryReport, summary="Cost and revenue per group", **_OUT)
def summary(
    request: Request,
    principal: Reader,
    from_: From = None,
    to: To = None,
    group_by: GroupBy = "customer",
    tz: Tz = "UTC",
    by_currency: ByCurrency = False,
) -> dict[str, Any]:
    """One row per value of ``group_by`` (groups with signals only, too), in the reporting
    currency (figures without a rate for their date listed in ``unconverted``), or with
    ``by_currency`` per original currency."""
    lo, hi = _period(from_, to, _zone(tz))
    with AppState.of(request).db.read() as conn:
        convert = _converter(conn, principal.org_id, by_currency)
        return build_summary(conn, principal.org_id, lo, hi, group_by, convert)


@router.get(
    "/margin",
    response_model=MarginReport,
    summary="Cost, revenue, profit and margin % by group and window",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    **_OUT,
)
def margin_report(
    request: Request,
    principal: Reader,
    from_: From = None,
    to: To = None,
    group_by: Multi = None,
    window: Literal["hour", "day", "week", "month"] | None = None,
    tz: Tz = "UTC",
    customer: Multi = None,
    agent: Multi = None,
    event_name: Multi = None,
    top: Annotated[int | None, Query(ge=1, le=1000)] = None,
    sort: Sort = "profit",
    order: Literal["asc", "desc"] = "desc",
    compare: bool = False,
    format: Literal["json", "csv"] = "json",
    by_currency: ByCurrency = False,
) -> Any:
    """Rows per group (``group_by``: customer, agent, event_name, provider, model; several
    comma-separated) and, with ``window``, per window in ``tz``. ``top`` keeps the first N
    rows per currency by ``sort`` and folds the rest into an "Other" row; ``compare`` adds the
    prior period of the same length. ``format=csv`` answers CSV. Revenue of provider/model
    groups is null; so is every figure a tracking mode does not track. Figures are converted
    to the reporting currency at the rate of their date (``rates`` lists the rates used);
    one without a rate is listed in the row's ``unconverted`` and leaves its profit and
    margin null. ``by_currency`` answers one row per original currency instead."""
    zone = _zone(tz)
    lo, hi = _period(from_, to, zone)
    dims = _dims(group_by)
    windows = _windows(lo, hi, window, zone)
    with AppState.of(request).db.read() as conn:
        filters = _filters(conn, principal.org_id, customer, agent, event_name)
        convert = _converter(conn, principal.org_id, by_currency)
        rows = build_table(
            conn,
            principal.org_id,
            lo,
            hi,
            dims,
            filters,
            windows=windows,
            sort=sort,
            descending=order == "desc",
            top=top,
            compare=compare and windows is None,
            convert=convert,
        )
        plain = not dims and windows is None
        totals = (
            rows
            if plain
            else build_table(conn, principal.org_id, lo, hi, [], filters, convert=convert)
        )
    rendered = [render_row(r, dims, windows is not None) for r in rows]
    if format == "csv":
        return PlainTextResponse(to_csv(rendered, dims), media_type="text/csv")
    return {
        "from": isoformat(lo),
        "to": isoformat(hi),
        "tz": tz,
        "group_by": dims,
        "window": window,
        "rows": rendered,
        "totals": [_total(r) for r in totals],
        **_rates(convert),
    }


def _total(row: dict[str, Any]) -> dict[str, Any]:
    return {"currency": row["currency"], **figures(row)}


@router.get(
    "/cost-per-outcome",
    response_model=CostPerOutcomeReport,
    summary="Average attributed AI cost of one outcome",
    **_OUT,
)
def cost_per_outcome(
    request: Request,
    principal: Reader,
    event_name: Annotated[str, Query(min_length=1, max_length=256)],
    from_: From = None,
    to: To = None,
    tz: Tz = "UTC",
    customer: Multi = None,
    agent: Multi = None,
    group_by: Literal["customer", "agent"] | None = None,
    by_currency: ByCurrency = False,
) -> dict[str, Any]:
    """AI cost attributed to signals named ``event_name`` (costs sharing a trace with a
    cost-tracing signal) ÷ the number of those signals, per group, in the reporting currency
    (figures without a rate for their date listed in ``unconverted``), or with
    ``by_currency`` per original currency."""
    lo, hi = _period(from_, to, _zone(tz))
    with AppState.of(request).db.read() as conn:
        filters = _filters(conn, principal.org_id, customer, agent, None)
        convert = _converter(conn, principal.org_id, by_currency)
        rows = outcome_rows(
            conn,
            principal.org_id,
            (lo, hi),
            event_name,
            dims=[group_by] if group_by else [],
            filters=filters,
            convert=convert,
        )
    return {
        "from": isoformat(lo),
        "to": isoformat(hi),
        "event_name": event_name,
        **_rates(convert),
        "rows": rows,
    }


@router.get(
    "/unit-economics",
    response_model=UnitEconomicsReport,
    summary="Per customer: outcomes, revenue, cost, profit, per outcome",
    **_OUT,
)
def unit_economics(
    request: Request,
    principal: Reader,
    from_: From = None,
    to: To = None,
    tz: Tz = "UTC",
    customer: Multi = None,
    by_currency: ByCurrency = False,
) -> dict[str, Any]:
    """One row per customer (in the reporting currency, or with ``by_currency`` per
    original currency): outcomes (signals), revenue, cost, profit, margin %, and revenue,
    cost and profit per outcome."""
    lo, hi = _period(from_, to, _zone(tz))
    with AppState.of(request).db.read() as conn:
        filters = _filters(conn, principal.org_id, customer, None, None)
        convert = _converter(conn, principal.org_id, by_currency)
        rows = build_table(conn, principal.org_id, lo, hi, ["customer"], filters, convert=convert)
    return {
        "from": isoformat(lo),
        "to": isoformat(hi),
        **_rates(convert),
        "rows": [
            {
                **render_row(r, ["customer"], False),
                "revenue_per_outcome": row_per_outcome(r, "revenue"),
                "cost_per_outcome": row_per_outcome(r, "cost"),
                "profit_per_outcome": row_per_outcome(r, "profit"),
            }
            for r in rows
        ],
    }


@router.get(
    "/overview",
    response_model=Overview,
    summary="Everything the dashboard shows, in one answer",
    **_OUT,
)
def overview(
    request: Request,
    principal: Reader,
    from_: From = None,
    to: To = None,
    tz: Tz = "UTC",
    top: Annotated[int, Query(ge=1, le=100)] = 5,
    by_currency: ByCurrency = False,
) -> dict[str, Any]:
    """Totals per currency against the prior period of the same length (with the parts the
    profit is made of), a series per local day, the top customers and agents by profit (top
    N and an "Other" row), cost by provider, model and source, and unpriced costs — in the
    reporting currency, or with ``by_currency`` per original currency."""
    zone = _zone(tz)
    lo, hi = _period(from_, to, zone)
    with AppState.of(request).db.read() as conn:
        convert = _converter(conn, principal.org_id, by_currency)
        try:
            return build_overview(conn, principal.org_id, lo, hi, zone, tz, top, convert)
        except TooManyWindows as exc:  # its series has a point a day
            detail = f"from: the overview shows each day, and this period has {exc}"
            raise Problem(422, f"{detail}; choose a shorter one", field="from") from None
