"""The idempotency keys of every fact on PostgreSQL, in one table that is not partitioned.

PostgreSQL keeps a key unique across a partitioned table only if the key includes the
partition key (``ts``), but a fact's idempotency key is unique per organization for ever,
whatever its time. So on PostgreSQL each fact's key is claimed in ``fact_keys`` in the same
transaction as the fact is written: the fact is written only if the claim is new. The
table keeps the fact's id and content hash, so that a retry is told a duplicate (or a
conflict) as before, even once the fact's month is archived. SQLite's fact tables are not
partitioned and keep their own unique keys (see ``margin.store.schema``): there the table
exists, empty.

A key's ``scope`` is "" for every key unique per organization, and ``otlp:{trace_id}`` for
a cost received over OTLP, whose key is unique per trace (``uq_costs_otlp`` on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Column, String, Table

from margin.store._base import Id, metadata

__all__ = ["KeyRow", "claim", "fact_keys", "otlp_scope", "stored"]

fact_keys = Table(
    "fact_keys",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("fact", String(16), primary_key=True),  # signals | costs | events
    Column("scope", String(40), primary_key=True),
    Column("idempotency_key", String(256), primary_key=True),
    Column("id", Id, nullable=False),
    Column("content_hash", String(32), nullable=False),
)

#: (org_id, fact, scope, idempotency_key, id, content_hash): a claim, in column order.
KeyRow = tuple[str, str, str, str, str, str]
_COLUMNS = "org_id, fact, scope, idempotency_key, id, content_hash"
_STAGE = "_stage_fact_keys"


def otlp_scope(trace_id: str | None) -> str:
    """The scope of the key of a cost received over OTLP."""
    return f"otlp:{trace_id or ''}"


def claim(cursor: Any, rows: Sequence[KeyRow]) -> set[str]:
    """Claim each row's key (``cursor``: a psycopg cursor inside the write transaction);
    returns the ids of the rows whose key was free, now theirs. A key taken by a concurrent
    transaction waits for it, as a unique index does, and is not claimed if it commits."""
    from psycopg.errors import UniqueViolation  # PostgreSQL support is an optional extra

    # COPY is the cheapest way in; a savepoint lets a batch holding a key that is taken (a
    # retried request) fall back to one INSERT … ON CONFLICT DO NOTHING from a staging table.
    cursor.execute("SAVEPOINT margin_keys")
    try:
        with cursor.copy(f"COPY fact_keys ({_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    except UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT margin_keys")
    else:
        cursor.execute("RELEASE SAVEPOINT margin_keys")
        return {row[4] for row in rows}
    cursor.execute("RELEASE SAVEPOINT margin_keys")
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE fact_keys) ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY {_STAGE} ({_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f"INSERT INTO fact_keys ({_COLUMNS}) SELECT {_COLUMNS} FROM {_STAGE} "
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    claimed = {row_id for (row_id,) in cursor.fetchall()}
    cursor.execute(f"DELETE FROM {_STAGE}")
    return claimed


def stored(
    cursor: Any, org_id: str, fact: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(scope, key) → (id, content hash) of the facts stored with these keys."""
    wanted = list(keys)
    if not wanted:
        return {}
    # Two array parameters: an IN list of hundreds of parameters plans and binds slowly.
    cursor.execute(
        "SELECT k.scope, k.idempotency_key, k.id, k.content_hash FROM fact_keys k "
        "JOIN unnest(%s::text[], %s::text[]) AS w(scope, idempotency_key) "
        "USING (scope, idempotency_key) WHERE k.org_id = %s AND k.fact = %s",
        ([s for s, _k in wanted], [k for _s, k in wanted], org_id, fact),
    )
    return {(scope, key): (row_id, digest) for scope, key, row_id, digest in cursor.fetchall()}
