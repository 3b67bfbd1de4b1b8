"""What one outcome costs and earns: a signal's attributed AI cost and revenue divided by the
number of those signals, per group, in the reporting currency (or per original currency).

The API's ``/v1/reports/cost-per-outcome`` and ``/v1/reports/unit-economics``, the CLI's
``margin report cost-per-outcome`` and the SDK read these figures from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from margin._money import format_decimal, from_nanos
from margin.reports.currency import Converter, flagged
from margin.reports.facts import Filters
from margin.reports.tables import build_table, money

__all__ = ["cost_per_outcome", "per_outcome", "row_per_outcome"]

_NANO = Decimal("0.000000001")


def per_outcome(nanos: int | None, outcomes: int) -> str | None:
    """An amount per outcome, to the nano-unit; None when not tracked or no outcome."""
    if nanos is None or not outcomes:
        return None
    return format_decimal((from_nanos(nanos) / outcomes).quantize(_NANO))


def row_per_outcome(row: dict[str, Any], figure: str) -> str | None:
    """A report row's ``cost``, ``revenue`` or ``profit`` per outcome; None when part of
    that figure had no exchange rate (a share of a partial sum would look exact and be
    wrong; a row's profit is None already then)."""
    index = {"cost": 0, "revenue": 1}.get(figure)
    missing = (row.get("unconverted") or {}).values()
    if index is not None and any(pair[index] for pair in missing):
        return None
    return per_outcome(row[figure], row["signals"])


def cost_per_outcome(
    conn: Connection,
    org_id: str,
    period: tuple[int, int],
    event_name: str,
    *,
    dims: Sequence[str] = (),
    filters: Filters | None = None,
    convert: Converter | None = None,
) -> list[dict[str, Any]]:
    """One row per group (and currency when not converted): outcomes named ``event_name``,
    their attributed cost, cost and revenue per outcome, and the figures left unconverted
    for want of a rate."""
    base = filters or Filters()
    only = Filters(customers=base.customers, agents=base.agents, event_names=[event_name])
    lo, hi = period
    rows = build_table(
        conn, org_id, lo, hi, list(dims), only, sort="label", descending=False, convert=convert
    )
    out = []
    for row in rows:
        found: dict[str, Any] = {
            "key": dict(zip(dims, row["group"], strict=False)) if dims else None,
            "label": row["label"],
            "currency": row["currency"],
            "outcomes": row["signals"],
            "cost": money(row["cost"]),
            "cost_per_outcome": row_per_outcome(row, "cost"),
            "revenue_per_outcome": row_per_outcome(row, "revenue"),
            **flagged(row),
        }
        out.append(found)
    return out
