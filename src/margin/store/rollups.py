"""Hourly rollups kept in step with the facts, in the same transaction.

Every change is an additive delta on a row keyed by (org, hour, dimensions), written as an
upsert, so rollups from concurrent writers never lose an update and can be rebuilt from facts.

Sums stay exact integers on both stores because each organization's costs in one currency
total at most ``MAX_TOTAL_NANOS`` (``cost_totals``, checked as the rollups are written): every
rollup row, daily row and sum a report takes of them is a part of that total, so none
overflows a signed 64-bit integer (where PostgreSQL would fail and SQLite would silently
turn to floating point).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import BigInteger, Connection, Table

from margin._time import DAY_US, HOUR_US
from margin.store.schema import (
    cost_rollups,
    cost_rollups_daily,
    signal_rollups,
    signal_rollups_daily,
)

__all__ = [
    "MAX_TOTAL_NANOS",
    "CostKey",
    "CostRollup",
    "CostTotals",
    "SignalRollup",
    "TotalExceeded",
    "add_to",
    "cost_key",
    "hour_bucket",
]

#: The most an organization's costs in one currency may add up to, in nano-units.
MAX_TOTAL_NANOS = 2**63 - 1

_COST_VALUES = ("amount_nanos", "records", "unpriced")
_SIGNAL_KEYS = ("org_id", "bucket", "customer_id", "agent_id", "event_name")


def hour_bucket(ts_us: int) -> int:
    """The start of the UTC hour holding ``ts_us``."""
    return ts_us - ts_us % HOUR_US


class CostKey(NamedTuple):
    org_id: str
    bucket: int
    customer_id: str
    agent_id: str
    event_name: str
    provider: str
    model: str
    currency: str


def cost_key(
    org_id: str,
    ts_us: int,
    customer_id: str | None,
    agent_id: str | None,
    event_name: str | None,
    provider: str | None,
    model: str | None,
    currency: str,
) -> CostKey:
    return CostKey(
        org_id,
        hour_bucket(ts_us),
        customer_id or "",
        agent_id or "",
        event_name or "",
        provider or "",
        model or "",
        currency,
    )


def add_to(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    values: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """Upsert additive deltas: each row is the key values, then the deltas of ``values``.

    Rows must come sorted, so that concurrent writers lock rows in one order (no deadlock).
    SQLite runs one fixed statement through the driver's executemany (a compiled multi-VALUES
    form would be a new statement text per batch size, which costs more than the rows).
    PostgreSQL gets them as one JSON array of rows, expanded and applied in one statement, in
    key order: a statement a row would cost a server round trip each.
    """
    if not rows:
        return
    columns = ", ".join([*keys, *values])
    update = ", ".join(f"{v} = {table.name}.{v} + excluded.{v}" for v in values)
    tail = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {update}"
    if conn.dialect.name == "sqlite":
        marks = ", ".join(["?"] * (len(keys) + len(values)))
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})" + tail, rows)
        return
    # One statement, one round trip: the rows travel as one JSON parameter, which psycopg
    # passes as text (its array dumpers format each element in Python).
    names = (*keys, *values)
    typed = ", ".join(
        f"{name} {'bigint' if isinstance(table.c[name].type, BigInteger) else 'text'}"
        for name in names
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM jsonb_to_recordset(%s::jsonb) "
        f"AS delta ({typed}) ORDER BY {', '.join(keys)}" + tail,
        (orjson.dumps([dict(zip(names, row, strict=True)) for row in rows]).decode(),),
    )


def _day(bucket: int) -> int:
    return bucket - bucket % DAY_US


class CostRollup:
    """Accumulates cost deltas, then writes them (hourly and daily) in two statements."""

    def __init__(self) -> None:
        self.deltas: dict[CostKey, list[int]] = defaultdict(lambda: [0, 0, 0])
        #: The priced amount of fresh costs of a unit by (customer, unit, currency): no
        #: rollup dimension, but what burns the unit's credits (``control.consumption``).
        self.units: dict[tuple[str, str, str], int] = defaultdict(int)

    def add(self, key: CostKey, amount_nanos: int | None, sign: int = 1) -> None:
        delta = self.deltas[key]
        delta[0] += sign * (amount_nanos or 0)
        delta[1] += sign
        if amount_nanos is None:
            delta[2] += sign

    def add_totals(self, key: CostKey, amount_nanos: int, records: int, unpriced: int) -> None:
        """Add several costs of one key at once: their priced total, count and unpriced count."""
        delta = self.deltas[key]
        delta[0] += amount_nanos
        delta[1] += records
        delta[2] += unpriced

    def flush(self, conn: Connection) -> None:
        """Write the deltas: first to the totals they change (``TotalExceeded`` if one would
        pass ``MAX_TOTAL_NANOS``: the caller's transaction must then be rolled back; no
        rollup row, a part of its total, can pass it then), then hourly and daily."""
        if not self.deltas:
            return
        days: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for key, d in self.deltas.items():
            day = days[(key.org_id, _day(key.bucket), *key[2:])]
            day[0] += d[0]
            day[1] += d[1]
            day[2] += d[2]
            totals[(key.org_id, key.currency)] += d[0]
        _add_totals(conn, {key: n for key, n in totals.items() if n})
        for table, deltas in ((cost_rollups, self.deltas), (cost_rollups_daily, days)):
            rows = [(*key, *d) for key, d in sorted(deltas.items())]
            add_to(conn, table, CostKey._fields, _COST_VALUES, rows)
        self.deltas.clear()
        self.units.clear()


class TotalExceeded(Exception):
    """Costs that would take an organization's total in a currency past ``MAX_TOTAL_NANOS``."""

    def __init__(self, currency: str) -> None:
        super().__init__(f"the organization's {currency} costs would total more than the maximum")
        self.currency = currency


def _add_totals(conn: Connection, deltas: dict[tuple[str, str], int]) -> None:
    """Add to ``cost_totals`` and check the new totals: past 64 bits, PostgreSQL fails the
    statement and SQLite returns a float; either way ``TotalExceeded``."""
    if not deltas:
        return
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    sql = (
        f"INSERT INTO cost_totals (org_id, currency, amount_nanos) VALUES ({mark}, {mark}, "
        f"{mark}) ON CONFLICT (org_id, currency) DO UPDATE "
        "SET amount_nanos = cost_totals.amount_nanos + excluded.amount_nanos "
        "RETURNING amount_nanos"
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for (org_id, currency), delta in sorted(deltas.items()):
        try:
            cursor.execute(sql, (org_id, currency, delta))
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == "22003":  # PostgreSQL: bigint out of range
                raise TotalExceeded(currency) from None
            raise
        (total,) = cursor.fetchone()
        if not isinstance(total, int):
            raise TotalExceeded(currency)


class CostTotals:
    """An organization's cost totals per currency during one write transaction: what is
    stored, plus what this transaction admitted so far. ``admit`` refuses an amount that
    would take a total past ``MAX_TOTAL_NANOS``, so that one such item fails alone; the
    rollups' flush checks again against what concurrent writers committed meanwhile."""

    def __init__(self, conn: Connection, org_id: str) -> None:
        self._conn = conn
        self._org_id = org_id
        self._totals: dict[str, int] = {}

    def admit(self, currency: str, nanos: int | None) -> bool:
        if not nanos:
            return True
        total = self._totals.get(currency)
        if total is None:
            mark = "?" if self._conn.dialect.name == "sqlite" else "%s"
            cursor = self._conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(
                f"SELECT amount_nanos FROM cost_totals WHERE org_id = {mark} AND currency = {mark}",
                (self._org_id, currency),
            )
            found = cursor.fetchone()
            total = found[0] if found else 0
        if total + nanos > MAX_TOTAL_NANOS:
            self._totals[currency] = total
            return False
        self._totals[currency] = total + nanos
        return True

    def release(self, currency: str, nanos: int | None) -> None:
        """Give back an admitted amount that was not stored after all (a duplicate)."""
        if nanos:
            self._totals[currency] -= nanos


class SignalRollup:
    """Accumulates signal counts per hour and dimensions (and per day)."""

    def __init__(self) -> None:
        #: Stored signals by (org id, hour bucket, customer id, agent id or "", event name).
        self.counts: dict[tuple[str, int, str, str, str], int] = defaultdict(int)

    def flush(self, conn: Connection) -> None:
        if not self.counts:
            return
        days: dict[tuple[str, int, str, str, str], int] = defaultdict(int)
        for (org_id, bucket, *rest), n in self.counts.items():
            days[(org_id, _day(bucket), rest[0], rest[1], rest[2])] += n
        for table, counts in ((signal_rollups, self.counts), (signal_rollups_daily, days)):
            rows = [(*key, n) for key, n in sorted(counts.items())]
            add_to(conn, table, _SIGNAL_KEYS, ("signals",), rows)
        self.counts.clear()
