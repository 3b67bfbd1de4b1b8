"""A feature's usage by one customer over [lo, hi): read from the hourly rollups kept at
ingest (signals, AI cost) or from the meter's events, so it is current to the last
committed ingest and a retried ingest (a duplicate) never counts twice.

A customer unit's usage is counted from the facts attributed to it (its signals, its AI
costs, or its events for a meter), exactly at any boundary.

Rollups are hourly in UTC, so a period that starts at a local midnight is exact in every
zone whose offset is a whole number of hours (all but a few, such as Asia/Kolkata, where a
period boundary falls within an hour's bucket and that hour counts in the period it starts).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from margin._money import to_nanos
from margin.billing.errors import BillingError
from margin.billing.metering import MeterQuery, run_query
from margin.billing.meters import get_meter
from margin.control.errors import ControlError
from margin.store.schema import cost_rollups, costs, signal_rollups, signals

__all__ = ["feature_usage"]

_NANOS = 1_000_000_000


def feature_usage(
    conn: Connection,
    org_id: str,
    customer_id: str,
    feature: dict[str, Any],
    lo: int,
    hi: int,
    unit_id: str = "",
) -> int:
    """Usage in nano-units: signals count ×10⁹, AI cost in nano-units of its currency. With
    ``unit_id``: the usage attributed to that unit of the customer."""
    backed_by = feature["backed_by"]
    if unit_id and backed_by in ("signals", "ai_cost"):
        total: ColumnElement[Any]
        if backed_by == "signals":
            table, total = signals, func.count()
            which = signals.c.event_name == feature["event_name"]
        else:
            table, total = costs, func.coalesce(func.sum(costs.c.amount_nanos), 0)
            which = costs.c.currency == feature["currency"]
        found = conn.execute(
            select(total).where(
                table.c.org_id == org_id,
                table.c.unit_id == unit_id,
                table.c.ts >= lo,
                table.c.ts < hi,
                table.c.customer_id == customer_id,
                which,
            )
        ).scalar_one()
        return int(found) * (_NANOS if backed_by == "signals" else 1)
    if backed_by == "signals":
        t = signal_rollups
        total = conn.execute(
            select(func.coalesce(func.sum(t.c.signals), 0)).where(
                t.c.org_id == org_id,
                t.c.customer_id == customer_id,
                t.c.event_name == feature["event_name"],
                t.c.bucket >= lo,
                t.c.bucket < hi,
            )
        ).scalar_one()
        return int(total) * _NANOS
    if backed_by == "ai_cost":
        c = cost_rollups
        total = conn.execute(
            select(func.coalesce(func.sum(c.c.amount_nanos), 0)).where(
                c.c.org_id == org_id,
                c.c.customer_id == customer_id,
                c.c.currency == feature["currency"],
                c.c.bucket >= lo,
                c.c.bucket < hi,
            )
        ).scalar_one()
        return int(total)
    if backed_by == "meter":
        try:
            meter = get_meter(conn, org_id, feature["meter_key"])
        except BillingError as exc:  # the meter was deleted after the feature was made
            raise ControlError(409, f"feature: {exc.detail}", "feature") from None
        query = MeterQuery(lo, hi, customers=[customer_id], unit=unit_id or None)
        result = run_query(conn, org_id, meter, query)
        value = result.total.value()
        return 0 if value is None else to_nanos(value)
    return 0
