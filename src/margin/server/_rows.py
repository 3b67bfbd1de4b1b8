"""Bulk inserts through each driver's fast path, skipping rows whose unique key is taken.

Ingest writes hundreds of rows a transaction; SQLAlchemy's per-row compilation would cost
more than the rows. So rows go to the driver directly: SQLite's ``executemany`` of one fixed
statement, PostgreSQL's ``COPY``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Table, select, text

from margin._payload import stored_json
from margin.store import fact_keys
from margin.store.schema import NOT_OTLP

__all__ = [
    "KEY_CONFLICT",
    "OTLP_CONFLICT",
    "existing",
    "existing_otlp",
    "insert_rows",
    "insert_tuples",
]

#: The unique key of every fact table (signals, costs, events).
KEY_CONFLICT = ("org_id", "idempotency_key")
#: The unique key of costs received over OTLP (``uq_costs_otlp``).
OTLP_CONFLICT = ("org_id", "trace_id", "idempotency_key")
#: Fact tables whose keys PostgreSQL keeps in ``fact_keys`` (they are partitioned there).
_KEYED = frozenset({"signals", "costs", "events"})
_CHUNK = 500
# Costs received over OTLP are kept unique by another index (see ``schema.costs``): the key
# index of costs holds the other costs only.
_KEY_PREDICATES = {"costs": NOT_OTLP}


def _key_predicate(table: str) -> str | None:
    """The predicate of ``table``'s partial unique key index, None when it holds every row."""
    return _KEY_PREDICATES.get(table)


def insert_rows(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: Sequence[str] = KEY_CONFLICT,
    returning: str | None = "idempotency_key",
) -> set[str]:
    """Insert rows, skipping those that collide on the unique ``conflict`` columns; returns
    the ``returning`` column of the rows inserted (nothing when ``returning`` is None).
    Rows hold plain column values (JSON as Python objects)."""
    if not rows:
        return set()
    shape = _shape(table)
    values = _values(shape, rows)
    if returning is None:
        insert_tuples(conn, table.name, shape.columns, values, conflict)
        return set()
    # Only idempotency keys are asked for (other tables ask for no result).
    assert returning == "idempotency_key"
    assert tuple(conflict) == KEY_CONFLICT
    if insert_tuples(conn, table.name, shape.columns, values, conflict) == len(rows):
        return {row[returning] for row in rows}
    org_id = rows[0]["org_id"]
    ids = {row["id"] for row in rows}
    stored = existing(conn, table, org_id, [row["idempotency_key"] for row in rows])
    return {key for key, (row_id, _digest) in stored.items() if row_id in ids}


def insert_tuples(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: Sequence[str],
    where: str | None = None,
) -> int:
    """Insert rows given as values in ``columns`` order (JSON already as text), skipping
    those that collide on the unique ``conflict`` columns (of the partial index with
    predicate ``where``; for the idempotency key, ``_key_predicate``'s by default); returns
    how many were inserted."""
    if not rows:
        return 0
    if where is None and tuple(conflict) == KEY_CONFLICT:
        where = _key_predicate(table)
    names = ", ".join(columns)
    target = ", ".join(conflict)
    on_conflict = f"ON CONFLICT ({target}) {f'WHERE {where} ' if where else ''}DO NOTHING"
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        # Writes hold SQLite's write lock from BEGIN IMMEDIATE: the change counter counts
        # exactly this statement's rows.
        before = raw.total_changes
        raw.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}) "
            + on_conflict,
            rows,
        )
        inserted: int = raw.total_changes - before
        return inserted
    if table in _KEYED and tuple(conflict) in (KEY_CONFLICT, OTLP_CONFLICT):
        return _insert_keyed(raw, table, columns, rows, tuple(conflict) == OTLP_CONFLICT)
    return _insert_postgres(raw, table, names, rows, on_conflict)


def _insert_keyed(
    raw: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], otlp: bool
) -> int:
    """Claim the rows' keys in ``fact_keys``, then COPY the rows whose key was free."""
    at = {name: i for i, name in enumerate(columns)}
    org, key, id_, digest = at["org_id"], at["idempotency_key"], at["id"], at["content_hash"]
    trace = at["trace_id"] if otlp else None
    claims = [
        (
            row[org],
            table,
            fact_keys.otlp_scope(row[trace]) if trace is not None else "",
            row[key],
            row[id_],
            row[digest],
        )
        for row in rows
    ]
    cursor = raw.cursor()
    claimed = fact_keys.claim(cursor, claims)
    if len(claimed) < len(rows):
        rows = [row for row in rows if row[id_] in claimed]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def _insert_postgres(
    raw: Any, table: str, names: str, rows: Sequence[Sequence[Any]], on_conflict: str
) -> int:
    # COPY straight into the table, the cheapest way in; a savepoint lets a batch holding a
    # key that is taken (a retried export) fall back to COPY into a per-connection staging
    # table and one INSERT … SELECT … ON CONFLICT DO NOTHING.
    from psycopg.errors import UniqueViolation  # PostgreSQL support is an optional extra

    cursor = raw.cursor()
    cursor.execute("SAVEPOINT margin_copy")
    try:
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    except UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT margin_copy")
    else:
        cursor.execute("RELEASE SAVEPOINT margin_copy")
        return len(rows)
    cursor.execute("RELEASE SAVEPOINT margin_copy")
    stage = f"_stage_{table}"
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} {on_conflict}")
    count: int = cursor.rowcount
    cursor.execute(f"DELETE FROM {stage}")
    return count


def existing(
    conn: Connection, table: Table, org_id: str, keys: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """idempotency key → (id, content hash) of stored facts (of costs, those not received
    over OTLP: see ``TraceCosts.write`` for those)."""
    wanted = list(keys)
    found: dict[str, tuple[str, str]] = {}
    if not wanted:
        return found
    where = _key_predicate(table.name)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        claims = fact_keys.stored(cursor, org_id, table.name, (("", key) for key in wanted))
        return {key: value for (_scope, key), value in claims.items()}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            select(table.c.idempotency_key, table.c.id, table.c.content_hash).where(
                table.c.org_id == org_id,
                table.c.idempotency_key.in_(wanted[start : start + _CHUNK]),
                *([text(where)] if where else []),
            )
        )
        found.update({r.idempotency_key: (r.id, r.content_hash) for r in rows})
    return found


def existing_otlp(
    conn: Connection, org_id: str, keys: Iterable[tuple[str | None, str]]
) -> dict[str, tuple[str, str]]:
    """idempotency key → (id, content hash) of stored costs received over OTLP, by (trace,
    key), from ``fact_keys`` (PostgreSQL only)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    scoped = {(fact_keys.otlp_scope(trace), key) for trace, key in keys}
    found = fact_keys.stored(cursor, org_id, "costs", scoped)
    return {key: value for (_scope, key), value in found.items()}


@dataclass(frozen=True)
class _Shape:
    columns: list[str]
    json_at: list[int]
    getter: Callable[[dict[str, Any]], tuple[Any, ...]]


_SHAPES: dict[str, _Shape] = {}


def _shape(table: Table) -> _Shape:
    shape = _SHAPES.get(table.name)
    if shape is None:
        columns = [c.name for c in table.columns]
        json_at = [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]
        shape = _SHAPES[table.name] = _Shape(columns, json_at, itemgetter(*columns))
    return shape


def _values(shape: _Shape, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Each row's values in column order (absent keys are NULL), JSON columns as text (lists:
    both drivers take any sequence of parameters)."""
    try:
        values = [list(shape.getter(row)) for row in rows]
    except KeyError:
        values = [[row.get(c) for c in shape.columns] for row in rows]
    if shape.json_at:
        for value in values:
            for i in shape.json_at:
                if value[i] is not None:
                    value[i] = stored_json(value[i]).decode()
    return values
