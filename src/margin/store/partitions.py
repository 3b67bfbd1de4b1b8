"""Monthly partitions of the raw fact tables on PostgreSQL (SQLite keeps one table each).

``signals``, ``costs`` and ``events`` are partitioned by range of ``ts`` (their fact time),
one partition per UTC month named ``{table}_pYYYYMM``, plus ``{table}_default`` for any other
time, so that an item far in the past or the future is never refused for want of a
partition. The server creates the current month's and ``AHEAD`` more months' partitions at
start and every ``KEEP_EVERY`` seconds after (``PartitionKeeper``); a month created while
the default partition holds rows of it takes them over in the same transaction.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from margin._calendar import month_bounds, period_of
from margin._time import now_micros
from margin.store.db import Database

__all__ = [
    "AHEAD",
    "KEEP_EVERY",
    "PARTITIONED",
    "Month",
    "PartitionKeeper",
    "attach_month",
    "default_partition",
    "ensure_partitions",
    "is_partitioned",
    "month_partitions",
]

log = logging.getLogger("margin.store")

#: The partitioned fact tables (spans stay one table: their key is not their time's).
PARTITIONED = ("signals", "costs", "events")
#: Months created ahead of the current one.
AHEAD = 3
#: Seconds between two passes of the keeper (a month is created ``AHEAD`` months early).
KEEP_EVERY = 6 * 3600
#: One lock for every process creating partitions (an arbitrary constant of this code).
_LOCK = 0x6D617267696E01
_NAME = re.compile(r"^(?P<table>[a-z]+)_p(?P<year>\d{4})(?P<month>\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    """A UTC month, as a partition holds it: [start, end) in µs."""

    period: str  # YYYY-MM

    @property
    def bounds(self) -> tuple[int, int]:
        return month_bounds(self.period)

    def partition(self, table: str) -> str:
        return f"{table}_p{self.period.replace('-', '')}"

    def next(self) -> Month:
        return Month(period_of(self.bounds[1]))

    @staticmethod
    def of(ts: int) -> Month:
        return Month(period_of(ts))


def default_partition(table: str) -> str:
    return f"{table}_default"


def is_partitioned(conn: Connection, table: str) -> bool:
    """Whether ``table`` is a partitioned table (PostgreSQL after migration 0017)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    ).scalar()
    return kind == "p"


def month_partitions(conn: Connection, table: str) -> list[Month]:
    """The months ``table`` has a partition of, oldest first."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": table},
    ).scalars()
    months = []
    for name in names:
        match = _NAME.match(name)
        if match and match["table"] == table:
            months.append(Month(f"{match['year']}-{match['month']}"))
    return sorted(months)


def attach_month(conn: Connection, table: str, month: Month) -> None:
    """Create ``month``'s partition of ``table``, moving its rows out of the default one
    (PostgreSQL refuses a partition whose rows the default partition holds)."""
    name, default = month.partition(table), default_partition(table)
    start, end = month.bounds
    where = f"ts >= {start} AND ts < {end}"
    conn.exec_driver_sql(
        f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    conn.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM {default} WHERE {where}")
    conn.exec_driver_sql(f"DELETE FROM {default} WHERE {where}")
    conn.exec_driver_sql(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})"
    )


def ensure_partitions(
    conn: Connection, now: int, ahead: int = AHEAD, months: Iterable[Month] = ()
) -> list[str]:
    """Create the partitions of the month of ``now``, of ``ahead`` months after it and of
    ``months``, where missing; returns the names created (nothing on SQLite)."""
    if conn.dialect.name != "postgresql":
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    wanted = {Month.of(now)}
    for _ in range(ahead):
        wanted.add(max(wanted).next())
    wanted.update(months)
    created = []
    for table in PARTITIONED:
        if not is_partitioned(conn, table):
            continue
        have = set(month_partitions(conn, table))
        for month in sorted(wanted - have):
            attach_month(conn, table, month)
            created.append(month.partition(table))
    return created


class PartitionKeeper:
    """Creates partitions ahead at start, then every ``every`` seconds, in a daemon thread
    (PostgreSQL only: on SQLite it does nothing)."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], int] = now_micros,
        every: float = KEEP_EVERY,
    ) -> None:
        self._db = db
        self._clock = clock
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def keep(self) -> list[str]:
        """One pass: the partitions created."""
        if self._db.is_sqlite:
            return []
        with self._db.write() as conn:
            created = ensure_partitions(conn, self._clock())
        if created:
            log.info("margin: created partitions %s", ", ".join(created))
        return created

    def start(self) -> None:
        """Keep in a daemon thread: a pass now, then one every ``every`` seconds."""
        if self._db.is_sqlite:
            return
        self._thread = threading.Thread(target=self._run, name="margin-partitions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            try:
                self.keep()
            except Exception:  # the next pass tries again; the default partition takes rows
                log.exception("margin: creating partitions failed")
            if self._stop.wait(self._every):
                return
