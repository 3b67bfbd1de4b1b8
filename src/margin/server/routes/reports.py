"""``/v1/reports``: cost (and revenue, where recorded) over a period, grouped."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from margin._money import format_decimal, from_nanos
from margin._time import from_micros, isoformat
from margin.reports.facts import DIMENSIONS, Filters, read_facts
from margin.reports.tables import build_table, margin_pct, render_row, to_csv
from margin.reports.windows import boundaries, load_zone
from margin.server.auth import require
from margin.server.params import period_param
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.keys import Principal
from margin.store.schema import agents, cost_rollups, customers, signal_rollups

__all__ = ["router"]


def _money(nanos: int | None) -> str | None:
    return None if nanos is None else format_decimal(from_nanos(nanos))


router = APIRouter(prefix="/v1/reports", tags=["reports"])

GroupBy = Literal["customer", "agent", "event_name", "model", "provider"]
_COLUMN = {
    "customer": "customer_id",
    "agent": "agent_id",
    "event_name": "event_name",
    "model": "model",
    "provider": "provider",
}


@router.get("/summary", summary="Cost and revenue per group over a period")
def summary(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    group_by: GroupBy = "customer",
) -> dict[str, Any]:
    lo, hi = period_param(from_, to)
    column = cost_rollups.c[_COLUMN[group_by]]
    state = AppState.of(request)
    with state.db.read() as conn:
        rows = conn.execute(
            select(
                column.label("key"),
                cost_rollups.c.currency,
                func.sum(cost_rollups.c.amount_nanos).label("amount"),
                func.sum(cost_rollups.c.records).label("records"),
                func.sum(cost_rollups.c.unpriced).label("unpriced"),
            )
            .where(
                cost_rollups.c.org_id == principal.org_id,
                cost_rollups.c.bucket >= lo,
                cost_rollups.c.bucket < hi,
            )
            .group_by(column, cost_rollups.c.currency)
        ).all()
        signal_column = (
            signal_rollups.c[_COLUMN[group_by]]
            if group_by in ("customer", "agent", "event_name")
            else None
        )
        signal_counts: dict[str, int] = {}
        if signal_column is not None:
            signal_counts = {
                r.key: int(r.n)
                for r in conn.execute(
                    select(
                        signal_column.label("key"), func.sum(signal_rollups.c.signals).label("n")
                    )
                    .where(
                        signal_rollups.c.org_id == principal.org_id,
                        signal_rollups.c.bucket >= lo,
                        signal_rollups.c.bucket < hi,
                    )
                    .group_by(signal_column)
                )
            }
        revenue: dict[tuple[str, str], int] = {}
        if group_by in ("customer", "agent", "event_name"):
            facts = read_facts(conn, principal.org_id, lo, hi, [group_by], Filters())
            revenue = {
                (key[0], key[2]): row.revenue for key, row in facts.rows.items() if row.has_revenue
            }
        labels = _labels(
            conn,
            principal.org_id,
            group_by,
            {r.key for r in rows} | set(signal_counts) | {k for k, _ in revenue},
        )
    groups = [
        {
            "key": r.key or None,
            "label": labels.get(r.key, r.key) or "(none)",
            "currency": r.currency,
            "cost": format_decimal(from_nanos(int(r.amount))),
            "revenue": _money(revenue.pop((r.key, r.currency), None)),
            "records": int(r.records),
            "unpriced": int(r.unpriced),
            "signals": signal_counts.get(r.key),
        }
        for r in rows
        if int(r.records) != 0
    ]
    costed = {g["key"] or "" for g in groups}
    groups.extend(
        {
            "key": key or None,
            "label": labels.get(key, key) or "(none)",
            "currency": None,
            "cost": None,
            "revenue": None,
            "records": 0,
            "unpriced": 0,
            "signals": n,
        }
        for key, n in signal_counts.items()
        if key not in costed and not any(k == key for k, _ in revenue)
    )
    groups.extend(
        {
            "key": key or None,
            "label": labels.get(key, key) or "(none)",
            "currency": currency,
            "cost": None,
            "revenue": _money(nanos),
            "records": 0,
            "unpriced": 0,
            "signals": signal_counts.get(key),
        }
        for (key, currency), nanos in sorted(revenue.items())
    )
    groups.sort(key=lambda g: (str(g["label"]), str(g["currency"])))
    totals: dict[str, int] = {}
    for r in rows:
        totals[r.currency] = totals.get(r.currency, 0) + int(r.amount)
    return {
        "from": isoformat(lo),
        "to": isoformat(hi),
        "group_by": group_by,
        "groups": groups,
        "totals": [
            {"currency": c, "cost": format_decimal(from_nanos(n))}
            for c, n in sorted(totals.items())
        ],
    }


def _labels(conn: Any, org_id: str, group_by: str, keys: set[str]) -> dict[str, str]:
    table = {"customer": customers, "agent": agents}.get(group_by)
    wanted = sorted(k for k in keys if k)
    if table is None or not wanted:
        return {}
    rows = conn.execute(
        select(table.c.id, table.c.external_id, table.c.name).where(
            table.c.org_id == org_id, table.c.id.in_(wanted)
        )
    )
    return {r.id: r.name or r.external_id for r in rows}


# -- margin, cost per outcome, unit economics, overview ------------------------------------

Dimension = Literal["customer", "agent", "event_name", "provider", "model"]
Sort = Literal["profit", "revenue", "cost", "margin_pct", "signals", "label"]


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
    conn: Any,
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


def _zone(tz: str) -> ZoneInfo:
    try:
        return load_zone(tz)
    except ValueError as exc:
        raise Problem(422, f"tz: {exc}", field="tz") from None


def _windows(lo: int, hi: int, window: str | None, tz: str) -> list[int] | None:
    if window is None:
        return None
    try:
        return boundaries(lo, hi, window, _zone(tz))  # type: ignore[arg-type]
    except ValueError as exc:
        raise Problem(422, str(exc), field="window") from None


Multi = Annotated[list[str] | None, Query()]


@router.get("/margin", summary="Cost, revenue, profit and margin % by group and window")
def margin_report(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    group_by: Multi = None,
    window: Literal["hour", "day", "week", "month"] | None = None,
    tz: str = "UTC",
    customer: Multi = None,
    agent: Multi = None,
    event_name: Multi = None,
    top: Annotated[int | None, Query(ge=1, le=1000)] = None,
    sort: Sort = "profit",
    order: Literal["asc", "desc"] = "desc",
    compare: bool = False,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Rows per group (``group_by``: customer, agent, event_name, provider, model; several
    comma-separated) and, with ``window``, per window in ``tz``. ``top`` keeps the first N
    rows per currency by ``sort`` and folds the rest into an "Other" row; ``compare`` adds the
    prior period of the same length. ``format=csv`` answers CSV. Revenue of provider/model
    groups and of cost-only parties is null, cost of revenue-only parties is null."""
    lo, hi = period_param(from_, to)
    dims = _dims(group_by)
    _zone(tz)
    windows = _windows(lo, hi, window, tz)
    with AppState.of(request).db.read() as conn:
        filters = _filters(conn, principal.org_id, customer, agent, event_name)
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
        "totals": _totals(rows),
    }


def _totals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sums: dict[str, dict[str, int | None]] = {}
    for row in rows:
        acc = sums.setdefault(row["currency"], {"cost": None, "revenue": None})
        for name in ("cost", "revenue"):
            if row[name] is not None:
                acc[name] = (acc[name] or 0) + row[name]
    out = []
    for currency, acc in sorted(sums.items()):
        cost, revenue = acc["cost"], acc["revenue"]
        profit = None if cost is None or revenue is None else revenue - cost
        out.append(
            {
                "currency": currency,
                "cost": _money(cost),
                "revenue": _money(revenue),
                "profit": _money(profit),
                "margin_pct": margin_pct(profit, revenue),
            }
        )
    return out


@router.get("/cost-per-outcome", summary="Average attributed AI cost of one outcome")
def cost_per_outcome(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    event_name: str,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    customer: Multi = None,
    agent: Multi = None,
    group_by: Literal["customer", "agent"] | None = None,
) -> dict[str, Any]:
    """AI cost attributed to signals named ``event_name`` (costs sharing a trace with a
    cost-tracing signal) ÷ the number of those signals, per currency (and group)."""
    lo, hi = period_param(from_, to)
    dims = [group_by] if group_by else []
    with AppState.of(request).db.read() as conn:
        filters = _filters(conn, principal.org_id, customer, agent, [event_name])
        rows = build_table(
            conn, principal.org_id, lo, hi, dims, filters, sort="label", descending=False
        )
    out = []
    for row in rows:
        signals = row["signals"]
        per = None
        if row["cost"] is not None and signals:
            per = format_decimal(
                (from_nanos(row["cost"]) / signals).quantize(Decimal("0.000000001"))
            )
        out.append(
            {
                "key": dict(zip(dims, row["group"], strict=False)) if dims else None,
                "label": row["label"],
                "currency": row["currency"],
                "outcomes": signals,
                "cost": _money(row["cost"]),
                "cost_per_outcome": per,
                "revenue_per_outcome": None
                if row["revenue"] is None or not signals
                else format_decimal(
                    (from_nanos(row["revenue"]) / signals).quantize(Decimal("0.000000001"))
                ),
            }
        )
    return {"from": isoformat(lo), "to": isoformat(hi), "event_name": event_name, "rows": out}


@router.get("/unit-economics", summary="Per customer: outcomes, revenue, cost, profit, per outcome")
def unit_economics(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    customer: Multi = None,
) -> dict[str, Any]:
    """One row per customer and currency: outcomes (signals), revenue, AI cost, profit,
    margin %, and revenue, cost and profit per outcome."""
    lo, hi = period_param(from_, to)
    with AppState.of(request).db.read() as conn:
        filters = _filters(conn, principal.org_id, customer, None, None)
        rows = build_table(conn, principal.org_id, lo, hi, ["customer"], filters)

    def per(nanos: int | None, n: int) -> str | None:
        if nanos is None or not n:
            return None
        return format_decimal((from_nanos(nanos) / n).quantize(Decimal("0.000000001")))

    return {
        "from": isoformat(lo),
        "to": isoformat(hi),
        "rows": [
            {
                **render_row(r, ["customer"], False),
                "revenue_per_outcome": per(r["revenue"], r["signals"]),
                "cost_per_outcome": per(r["cost"], r["signals"]),
                "profit_per_outcome": per(r["profit"], r["signals"]),
            }
            for r in rows
        ],
    }


@router.get("/overview", summary="Everything the dashboard shows, in one answer")
def overview(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    tz: str = "UTC",
    top: Annotated[int, Query(ge=1, le=100)] = 5,
) -> dict[str, Any]:
    """The dashboard's one read. Money is a decimal string per currency; null = not recorded.

    ```
    {
      "from": RFC 3339, "to": RFC 3339, "tz": "Europe/Berlin",
      "prior": {"from", "to"},                      # the same length just before
      "totals": [{"currency", "cost", "revenue", "profit", "margin_pct",
                  "signals", "records", "unpriced",
                  "prior": {"cost", "revenue", "profit", "margin_pct"},
                  "change_pct": {"cost", "revenue", "profit"}}],
      "series": [{"date": "YYYY-MM-DD" (local), "window_start", "currency",
                  "cost", "revenue", "profit"}],        # one row per local day × currency
      "top_customers": [row], "top_agents": [row],   # by profit; top N + an "Other" row
      "cost_by_provider": [row], "cost_by_model": [row],   # by cost, revenue null
      "unpriced": {"records": n}                      # costs stored without a price
    }
    row = {"key": {dim: id}, "label", "is_other", "currency", "cost", "revenue",
           "profit", "margin_pct", "signals", "records", "unpriced"}
    ```
    """
    lo, hi = period_param(from_, to)
    zone = _zone(tz)
    days = _windows(lo, hi, "day", tz)
    org = principal.org_id
    with AppState.of(request).db.read() as conn:
        none = Filters()
        totals = build_table(conn, org, lo, hi, [], none, sort="label", compare=True)
        series = build_table(conn, org, lo, hi, [], none, windows=days, sort="label")
        by_customer = build_table(conn, org, lo, hi, ["customer"], none, top=top)
        by_agent = build_table(conn, org, lo, hi, ["agent"], none, top=top)
        by_provider = build_table(conn, org, lo, hi, ["provider"], none, sort="cost", top=top)
        by_model = build_table(conn, org, lo, hi, ["provider", "model"], none, sort="cost", top=top)
    rendered_totals = [render_row(r, [], False) for r in totals]
    for item in rendered_totals:
        item.pop("key"), item.pop("label"), item.pop("is_other")
    return {
        "from": isoformat(lo),
        "to": isoformat(hi),
        "tz": tz,
        "prior": {"from": isoformat(lo - (hi - lo)), "to": isoformat(lo)},
        "totals": rendered_totals,
        "series": [
            {
                "date": from_micros(r["window"]).astimezone(zone).date().isoformat(),
                "window_start": isoformat(r["window"]),
                "currency": r["currency"],
                "cost": _money(r["cost"]),
                "revenue": _money(r["revenue"]),
                "profit": _money(r["profit"]),
            }
            for r in series
        ],
        "top_customers": [render_row(r, ["customer"], False) for r in by_customer],
        "top_agents": [render_row(r, ["agent"], False) for r in by_agent],
        "cost_by_provider": [render_row(r, ["provider"], False) for r in by_provider],
        "cost_by_model": [render_row(r, ["provider", "model"], False) for r in by_model],
        "unpriced": {"records": sum(r["unpriced"] for r in totals)},
    }
