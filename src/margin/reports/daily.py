"""Daily rollups: the hourly rollups summed per UTC day (``margin._calendar.split_days``
says which parts of a report period are read from which level).

Both levels are written together by ``CostRollup.flush`` / ``SignalRollup.flush``
(``margin.store.rollups``), in the same transaction as the facts, so they always agree.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from margin._time import DAY_US

__all__ = ["rebuild"]

_COST_KEYS = (
    "org_id",
    "bucket",
    "customer_id",
    "agent_id",
    "event_name",
    "provider",
    "model",
    "currency",
)
_SIGNAL_KEYS = ("org_id", "bucket", "customer_id", "agent_id", "event_name")


def rebuild(conn: Connection, org_id: str) -> None:
    """Recompute an organization's daily rollups from its hourly ones (after a writer that
    changed hourly rollups directly, such as a reprice)."""
    day = f"bucket - bucket % {DAY_US}"
    for daily, hourly, sums in (
        (
            "cost_rollups_daily",
            "cost_rollups",
            "sum(amount_nanos), sum(records), sum(unpriced)",
        ),
        ("signal_rollups_daily", "signal_rollups", "sum(signals)"),
    ):
        keys = _COST_KEYS if daily == "cost_rollups_daily" else _SIGNAL_KEYS
        rest = ", ".join(keys[2:])
        conn.execute(text(f"DELETE FROM {daily} WHERE org_id = :org"), {"org": org_id})
        conn.execute(
            text(
                f"INSERT INTO {daily} SELECT org_id, {day}, {rest}, {sums} FROM {hourly}"
                f" WHERE org_id = :org GROUP BY org_id, {day}, {rest}"
            ),
            {"org": org_id},
        )
