"""``/v1/reports``: cost (and revenue, where recorded) over a period, grouped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select

from margin._money import format_decimal, from_nanos
from margin._time import isoformat, parse_timestamp, to_micros
from margin.server.auth import require
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import Principal
from margin.store.rollups import HOUR_US
from margin.store.schema import agents, cost_rollups, customers, signal_rollups

__all__ = ["parse_period", "router"]

router = APIRouter(prefix="/v1/reports", tags=["reports"])

GroupBy = Literal["customer", "agent", "event_name", "model", "provider"]
_COLUMN = {
    "customer": "customer_id",
    "agent": "agent_id",
    "event_name": "event_name",
    "model": "model",
    "provider": "provider",
}


def parse_period(start: str | None, end: str | None) -> tuple[int, int]:
    """Period bounds in µs from RFC 3339 times or dates; default: the last 30 days.
    Bounds are widened to whole hours, the resolution of the rollups."""
    try:
        end_dt = _parse(end, "to") if end else datetime.now(UTC)
        start_dt = _parse(start, "from") if start else end_dt - timedelta(days=30)
    except ValueError as exc:
        raise Problem(422, str(exc), field=str(exc).split(":", 1)[0]) from None
    lo, hi = to_micros(start_dt), to_micros(end_dt)
    if hi <= lo:
        raise Problem(422, "'to' must be after 'from'", field="to")
    return lo - lo % HOUR_US, hi + (-hi % HOUR_US)


def _parse(text: str, name: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        return parse_timestamp(text)
    except ValueError:
        raise ValueError(f"{name}: '{text}' is not an RFC 3339 time or a date") from None


@router.get("/summary", summary="Cost and revenue per group over a period")
def summary(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    group_by: GroupBy = "customer",
) -> dict[str, Any]:
    lo, hi = parse_period(from_, to)
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
        labels = _labels(
            conn, principal.org_id, group_by, {r.key for r in rows} | set(signal_counts)
        )
    groups = [
        {
            "key": r.key or None,
            "label": labels.get(r.key, r.key) or "(none)",
            "currency": r.currency,
            "cost": format_decimal(from_nanos(int(r.amount))),
            "revenue": None,
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
        if key not in costed
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
