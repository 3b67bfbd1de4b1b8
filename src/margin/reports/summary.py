"""The summary report: cost and revenue per group over a period, with record and signal
counts — the margin report's numbers in a flat shape (one dimension, a plain key), and
groups that only have signals listed too."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection

from margin._time import isoformat
from margin.reports.currency import Converter, flagged
from margin.reports.facts import Filters
from margin.reports.tables import build_table, money

__all__ = ["summary"]


def summary(
    conn: Connection,
    org_id: str,
    lo: int,
    hi: int,
    group_by: str,
    convert: Converter | None = None,
) -> dict[str, Any]:
    """Rows per value of ``group_by`` and currency; totals of cost per currency (with
    ``convert``: in its currency, the cost that had no rate listed apart)."""
    table = build_table(
        conn,
        org_id,
        lo,
        hi,
        [group_by],
        Filters(),
        sort="label",
        descending=False,
        idle=True,
        convert=convert,
    )
    totals: dict[str, int] = defaultdict(int)
    missing: dict[str, int] = defaultdict(int)
    rows = []
    for row in table:
        if row["cost"] is not None:
            totals[row["currency"]] += row["cost"]
        for currency, (cost, _revenue) in row.get("unconverted", {}).items():
            missing[currency] += cost
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
                **flagged(row),
            }
        )
    out: dict[str, Any] = {
        "from": isoformat(lo),
        "to": isoformat(hi),
        "group_by": group_by,
        "rows": rows,
        "totals": [{"currency": c, "cost": money(n)} for c, n in sorted(totals.items())],
    }
    if convert is not None:
        left = [{"currency": c, "cost": money(n)} for c, n in sorted(missing.items()) if n]
        if left and not out["totals"]:
            out["totals"] = [{"currency": convert.currency, "cost": money(0)}]
        for total in out["totals"] if left else []:
            total["unconverted"] = left
        out["currency"], out["rates"] = convert.currency, convert.rates()
    return out
