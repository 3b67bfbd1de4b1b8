"""Daily rollups: the hourly rollups summed per UTC day, kept in step at ingest, and the
plan that splits a report period into whole clean days (read daily) and ragged hours.

``mirror_costs`` / ``mirror_signals`` are called by the ledger with the pending hourly
deltas just before it writes them, in the same transaction, so both levels always agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql, sqlite

from margin.store.rollups import CostRollup, SignalRollup
from margin.store.schema import cost_rollups_daily, signal_rollups_daily

__all__ = ["DAY_US", "mirror_costs", "mirror_signals", "rebuild", "split"]

DAY_US = 86_400_000_000
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


def _insert(conn: Connection):  # type: ignore[no-untyped-def]
    return sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert


def mirror_costs(conn: Connection, rollup: CostRollup) -> None:
    """Add a cost rollup's pending hourly deltas to the daily rollups."""
    days: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for key, delta in rollup.deltas.items():
        day = days[(key.org_id, key.bucket - key.bucket % DAY_US, *key[2:])]
        for index in range(3):
            day[index] += delta[index]
    if not days:
        return
    rows = [
        {
            **dict(zip(_COST_KEYS, key, strict=True)),
            "amount_nanos": d[0],
            "records": d[1],
            "unpriced": d[2],
        }
        for key, d in sorted(days.items())
    ]
    stmt = _insert(conn)(cost_rollups_daily)
    table = cost_rollups_daily.c
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(_COST_KEYS),
            set_={
                "amount_nanos": table.amount_nanos + stmt.excluded.amount_nanos,
                "records": table.records + stmt.excluded.records,
                "unpriced": table.unpriced + stmt.excluded.unpriced,
            },
        ),
        rows,
    )


def mirror_signals(conn: Connection, rollup: SignalRollup) -> None:
    """Add a signal rollup's pending hourly counts to the daily rollups."""
    days: dict[tuple[object, ...], int] = defaultdict(int)
    for (org_id, bucket, *rest), count in rollup.counts.items():
        days[(org_id, bucket - bucket % DAY_US, *rest)] += count
    if not days:
        return
    rows = [
        {**dict(zip(_SIGNAL_KEYS, key, strict=True)), "signals": n}
        for key, n in sorted(days.items())
    ]
    stmt = _insert(conn)(signal_rollups_daily)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(_SIGNAL_KEYS),
            set_={"signals": signal_rollups_daily.c.signals + stmt.excluded.signals},
        ),
        rows,
    )


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
