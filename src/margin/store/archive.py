"""Archives: whole months of raw facts moved out of PostgreSQL into Parquet files.

``archive(db, "2026-01", directory)`` writes every month before January 2026 of each
partitioned table (``margin.store.partitions``) to ``{directory}/{table}/{YYYY-MM}.parquet``,
checks the file holds the rows counted, then detaches and drops the month's partition (rows
of the month kept by the default partition are deleted instead), each month in its own
transaction, the month locked against writes meanwhile. A month archived again (rows that
arrived for it later) goes to ``{YYYY-MM}.2.parquet``, and so on; ``fact_archives`` lists
every file written. A file is written beside its name and renamed once checked; a file left
by a run that failed before its commit is overwritten by the next run (its month was not
dropped).

What stays: the rollups (reports of cost and signal counts read them) and ``fact_keys``
(an archived fact's key is still taken: its retry is a duplicate). SQLite's tables are not
partitioned, and archiving them is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Integer,
    String,
    Table,
    select,
)

from margin._calendar import month_bounds, period_of, shift
from margin.store._base import Micros, metadata
from margin.store.db import Database
from margin.store.partitions import PARTITIONED, Month, default_partition, month_partitions

__all__ = ["ArchivePart", "ArchiveRefused", "archivable", "archive", "fact_archives"]

#: Every file an archive wrote: which table's rows of which month, and how many.
fact_archives = Table(
    "fact_archives",
    metadata,
    Column("fact", String(16), primary_key=True),
    Column("file", String(64), primary_key=True),  # relative to the archive's directory
    Column("period", String(7), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("archived_at", Micros, nullable=False),
)

_BATCH = 50_000


class ArchiveRefused(ValueError):
    """An archive that cannot be made (its one-line reason)."""


@dataclass(frozen=True)
class ArchivePart:
    """One table's rows of one month: where they are, how many, and the file they went to
    (None in a dry run)."""

    table: str
    period: str
    rows: int
    source: str  # the month's partition, or the default partition
    file: str | None = None


def _check(db: Database, before: str, now: int) -> int:
    if db.is_sqlite:
        raise ArchiveRefused(
            "archiving needs PostgreSQL (SQLite's fact tables are not partitioned)"
        )
    try:
        start, _end = month_bounds(before)
    except ValueError as exc:
        raise ArchiveRefused(f"--before: {exc}") from None
    if start > Month.of(now).bounds[0]:
        raise ArchiveRefused(f"--before: {before} is after the current month; it is still written")
    return start


def _refuse_unbilled(conn: Connection, limit: int) -> None:
    """Refuse when a month before ``limit`` holds a late signal not billed yet: one stored
    after its own month's invoice was finalized, which the invoice of the first later month
    not finalized before it arrived bills (``margin.billing.rating``), reading it raw. That
    invoice must be final before the signal's month leaves the store, or it is never billed."""
    # Imported here: ``schema`` imports this module for ``fact_archives``.
    from margin.store.late import stored_after_final
    from margin.store.schema import invoices, signals

    s, i = signals, invoices
    late = conn.execute(
        select(s.c.org_id, s.c.customer_id, s.c.ts, s.c.created_at)
        .select_from(s.join(i, stored_after_final()))
        .where(s.c.ts < limit)
        .distinct()
    ).all()
    if not late:
        return
    finals: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for org_id, customer_id, period, as_of in conn.execute(
        select(i.c.org_id, i.c.customer_id, i.c.period, i.c.as_of).where(i.c.status == "finalized")
    ):
        finals.setdefault((org_id, customer_id), []).append((period, as_of))
    waiting: dict[str, set[str]] = {}  # the signal's month → the months that will bill it
    for org_id, customer_id, ts, created_at in late:
        invoiced = finals.get((org_id, customer_id), [])
        before = {period for period, as_of in invoiced if as_of < created_at}
        billed_in = shift(period_of(ts), 1)
        while billed_in in before:
            billed_in = shift(billed_in, 1)
        if billed_in not in {period for period, _as_of in invoiced}:
            waiting.setdefault(period_of(ts), set()).add(billed_in)
    if waiting:
        months = ", ".join(sorted(waiting))
        billing = ", ".join(sorted(set().union(*waiting.values())))
        raise ArchiveRefused(
            f"--before: {months} hold late signals not billed yet; finalize the invoices of "
            f"{billing} first (they bill them, reading them from the store)"
        )


def archivable(db: Database, before: str, now: int) -> list[ArchivePart]:
    """What ``archive`` would move (the dry run): each table's months before ``before``."""
    limit = _check(db, before, now)
    with db.read() as conn:
        _refuse_unbilled(conn, limit)
        return _parts(conn, limit)


def _parts(conn: Connection, limit: int) -> list[ArchivePart]:
    parts = []
    for table in PARTITIONED:
        for month in month_partitions(conn, table):
            if month.bounds[1] <= limit:
                name = month.partition(table)
                rows = conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one()
                parts.append(ArchivePart(table, month.period, int(rows), name))
        default = default_partition(table)
        held = conn.exec_driver_sql(
            "SELECT to_char(to_timestamp(ts / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM'), count(*) "
            f"FROM {default} WHERE ts >= 0 AND ts < {limit} GROUP BY 1 ORDER BY 1"
        )
        parts.extend(ArchivePart(table, period, int(n), default) for period, n in held)
    return sorted(parts, key=lambda p: (p.table, p.period))


def archive(db: Database, before: str, directory: Path, now: int) -> list[ArchivePart]:
    """Move each table's months before ``before`` into Parquet files under ``directory``
    (see the module's doc); returns what was archived."""
    limit = _check(db, before, now)
    try:
        import pyarrow.parquet  # type: ignore[import-untyped, unused-ignore]  # noqa: F401
    except ImportError:
        raise ArchiveRefused("archiving writes Parquet: install margin[export] (pyarrow)") from None

    with db.read() as conn:
        _refuse_unbilled(conn, limit)
        planned = _parts(conn, limit)
    done = []
    for part in planned:
        with db.write() as conn:
            done.append(_move(conn, part, directory, now))
    return done


def _move(conn: Connection, part: ArchivePart, directory: Path, now: int) -> ArchivePart:
    table = _table(part.table)
    start, end = month_bounds(part.period)
    where = f"ts >= {start} AND ts < {end}"
    conn.exec_driver_sql(f"LOCK TABLE {part.source} IN SHARE MODE")
    rows = int(
        conn.exec_driver_sql(f"SELECT count(*) FROM {part.source} WHERE {where}").scalar_one()
    )
    taken = conn.execute(
        fact_archives.select().where(
            fact_archives.c.fact == part.table, fact_archives.c.period == part.period
        )
    ).all()
    name = f"{part.period}.parquet" if not taken else f"{part.period}.{len(taken) + 1}.parquet"
    file = f"{part.table}/{name}"
    written = _write(conn, table, part.source, where, directory / file)
    if written != rows:
        raise ArchiveRefused(f"{file}: {written} rows written, {rows} counted; nothing dropped")
    if part.source == default_partition(part.table):
        deleted = conn.exec_driver_sql(f"DELETE FROM {part.source} WHERE {where}").rowcount
        if deleted != rows:
            raise ArchiveRefused(f"{file}: {deleted} rows deleted, {rows} written; nothing dropped")
    else:
        conn.exec_driver_sql(f"ALTER TABLE {part.table} DETACH PARTITION {part.source}")
        conn.exec_driver_sql(f"DROP TABLE {part.source}")
    conn.execute(
        fact_archives.insert().values(
            fact=part.table, file=file, period=part.period, rows=rows, archived_at=now
        )
    )
    return ArchivePart(part.table, part.period, rows, part.source, file)


def _table(name: str) -> Table:
    table = metadata.tables[name]
    assert name in PARTITIONED
    return table


def _arrow_type(column: Any) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    if isinstance(column.type, JSON):
        return pa.string()  # the JSON text
    if isinstance(column.type, Boolean):
        return pa.bool_()
    if isinstance(column.type, BigInteger | Integer):
        return pa.int64()
    assert isinstance(column.type, String), column
    return pa.string()


def _write(conn: Connection, table: Table, source: str, where: str, path: Path) -> int:
    """Write the rows of ``source`` matching ``where`` to ``path`` (through a file beside
    it, renamed once it reads back with as many rows); the number of rows written."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    schema = pa.schema([(c.name, _arrow_type(c)) for c in table.columns])
    names = ", ".join(
        f"{c.name}::text" if isinstance(c.type, JSON) else c.name for c in table.columns
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    raw: Any = conn.connection.driver_connection
    written = 0
    with raw.cursor(name="margin_archive") as cursor, pq.ParquetWriter(partial, schema) as out:
        cursor.itersize = _BATCH
        cursor.execute(f"SELECT {names} FROM {source} WHERE {where} ORDER BY ts, id")
        while chunk := cursor.fetchmany(_BATCH):
            columns = list(zip(*chunk, strict=True))
            arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
            out.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            written += len(chunk)
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    if pq.read_metadata(partial).num_rows != written:
        raise ArchiveRefused(f"{path}: the file does not read back {written} rows")
    partial.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return written
