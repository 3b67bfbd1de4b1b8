"""The summary report: cost and revenue per group over a period, with record and signal
counts — the margin report's numbers in a flat shape (one dimension, a plain key), and
groups that only have signals listed too."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection

from margin._time import isoformat
from margin.reports.facts import Filters
from margin.reports.tables import build_table, money

__all__ = ["summary"]


def summary(conn: Connection, org_id: str, lo: int, hi: int, group_by: str) -> dict[str, Any]:
    """Rows per value of ``group_by`` and currency; totals of cost per currency."""
    table = build_table(
        conn, org_id, lo, hi, [group_by], Filters(), sort="label", descending=False, idle=True
    )
    totals: dict[str, int] = defaultdict(int)
    rows = []
    for row in table:
        if row["cost"] is not None:
            totals[row["currency"]] += row["cost"]
        rows.append(
            {
                "key": row["group"][0] or None,
                "label": row["label"],
                "currency": row["currency"],
                "cost": money(row["cost"]),
                "revenue": money(row["revenue"]),
                "records": row["records"],
                "unpriced": row["unpriced"],
                "signals": row["signals"],
            }
        )
    return {
        "from": isoformat(lo),
        "to": isoformat(hi),
        "group_by": group_by,
        "rows": rows,
        "totals": [{"currency": c, "cost": money(n)} for c, n in sorted(totals.items())],
    }
