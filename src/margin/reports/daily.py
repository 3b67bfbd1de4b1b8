"""Daily rollups: the hourly rollups summed per UTC day, and the plan that splits a report
period into whole clean days (read daily) and ragged hours.

Both levels are written together by ``CostRollup.flush`` / ``SignalRollup.flush``
(``margin.store.rollups``), in the same transaction as the facts, so they always agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from margin._time import DAY_US

__all__ = ["DAY_US", "rebuild", "split"]

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


def split(
    lo: int, hi: int, cuts: Iterable[int]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(hourly ranges, daily ranges) covering [lo, hi): whole UTC days with no cut strictly
    inside them are read from the daily rollups, everything else from the hourly ones."""
    first, last = lo + (-lo % DAY_US), hi - hi % DAY_US
    dirty = {c - c % DAY_US for c in cuts if lo < c < hi and c % DAY_US}
    hourly: list[tuple[int, int]] = []
    daily: list[tuple[int, int]] = []

    def add(ranges: list[tuple[int, int]], a: int, b: int) -> None:
        if b <= a:
            return
        if ranges and ranges[-1][1] == a:
            ranges[-1] = (ranges[-1][0], b)
        else:
            ranges.append((a, b))

    if first >= last:
        return [(lo, hi)], []
    add(hourly, lo, first)
    for day in range(first, last, DAY_US):
        add(hourly if day in dirty else daily, day, day + DAY_US)
    add(hourly, last, hi)
    return hourly, daily


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
