"""partitions: on PostgreSQL, signals, costs and events partitioned by month of their time,
their idempotency keys kept in ``fact_keys`` (SQLite: the table only, empty)

Each table is rebuilt as a partitioned table (a partition per month holding rows, the
current month and ``AHEAD`` more, and a default partition) and its rows are copied into it;
its keys are copied into ``fact_keys``. The primary key becomes (id, ts): PostgreSQL wants
the partition key in every unique index. Time and space: one copy of the three tables.

Revision ID: 0017_partitions
Revises: 0016_customer_units
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from margin._time import now_micros
from margin.store.partitions import AHEAD, PARTITIONED, Month, default_partition

revision = "0017_partitions"
down_revision = "0016_customer_units"
branch_labels = None
depends_on = None

#: The indexes of each partitioned table (the unique keys are ``fact_keys``'s now).
_INDEXES = {
    "signals": [
        "CREATE INDEX ix_signals_org_id_ts ON signals (org_id, ts)",
        "CREATE INDEX ix_signals_org_id_trace_id ON signals (org_id, trace_id)",
        # Paid's scoped signals are looked up by key (``margin.compat.paid.ingest``).
        "CREATE INDEX ix_signals_org_id_idempotency_key ON signals (org_id, idempotency_key)",
    ],
    "costs": [
        "CREATE INDEX ix_costs_org_id_ts ON costs (org_id, ts)",
        "CREATE INDEX ix_costs_attributed ON costs (org_id, signal_id) WHERE signal_id IS NOT NULL",
        "CREATE INDEX ix_costs_unpriced ON costs (org_id, ts) WHERE priced_by = 'unpriced'",
        "CREATE INDEX ix_costs_traced ON costs (org_id, trace_id) WHERE source != 'otlp'",
        # Finds an OTLP cost by its trace (it was also the unique key of those costs).
        "CREATE INDEX ix_costs_otlp ON costs (org_id, trace_id, idempotency_key) "
        "WHERE source = 'otlp'",
    ],
    "events": [
        "CREATE INDEX ix_events_org_id_type_ts ON events (org_id, type, ts)",
        "CREATE INDEX ix_events_org_id_ts ON events (org_id, ts)",
    ],
}
#: The unique keys and indexes of each table before (for the downgrade).
_BEFORE = {
    "signals": [
        "ALTER TABLE signals ADD CONSTRAINT uq_signals_org_id_idempotency_key "
        "UNIQUE (org_id, idempotency_key)",
        "CREATE INDEX ix_signals_org_id_ts ON signals (org_id, ts)",
        "CREATE INDEX ix_signals_org_id_trace_id ON signals (org_id, trace_id)",
    ],
    "costs": [
        *_INDEXES["costs"][:4],
        "CREATE UNIQUE INDEX uq_costs_key ON costs (org_id, idempotency_key) "
        "WHERE source != 'otlp'",
        "CREATE UNIQUE INDEX uq_costs_otlp ON costs (org_id, trace_id, idempotency_key) "
        "WHERE source = 'otlp'",
    ],
    "events": [
        "ALTER TABLE events ADD CONSTRAINT uq_events_org_id_idempotency_key "
        "UNIQUE (org_id, idempotency_key)",
        *_INDEXES["events"],
    ],
}
_SCOPE = {
    "signals": "''",
    "events": "''",
    "costs": "CASE WHEN source = 'otlp' THEN 'otlp:' || coalesce(trace_id, '') ELSE '' END",
}


def _months() -> list[Month]:
    """The months the facts are in (1970 … 2199; others go to the default partition), the
    current one and ``AHEAD`` more."""
    periods: set[str] = set()
    for table in PARTITIONED:
        rows = op.get_bind().exec_driver_sql(
            "SELECT DISTINCT to_char(to_timestamp(ts / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM') "
            f"FROM {table} WHERE ts >= 0 AND ts < 7258118400000000"
        )
        periods.update(period for (period,) in rows)
    month = Month.of(now_micros())
    periods.add(month.period)
    for _ in range(AHEAD):
        month = month.next()
        periods.add(month.period)
    return [Month(period) for period in sorted(periods)]


def upgrade() -> None:
    # On SQLite the table stays empty: its fact tables keep their own unique keys.
    op.create_table(
        "fact_keys",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("fact", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=256), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "fact", "scope", "idempotency_key", name="pk_fact_keys"),
    )
    # The files ``margin archive`` wrote (PostgreSQL only: SQLite's facts are not archived).
    op.create_table(
        "fact_archives",
        sa.Column("fact", sa.String(length=16), nullable=False),
        sa.Column("file", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("archived_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("fact", "file", name="pk_fact_archives"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    months = _months()
    for table in PARTITIONED:
        fresh = f"{table}_next"
        op.execute(
            f"CREATE TABLE {fresh} (LIKE {table} INCLUDING DEFAULTS) PARTITION BY RANGE (ts)"
        )
        op.execute(f"CREATE TABLE {default_partition(table)} PARTITION OF {fresh} DEFAULT")
        for month in months:
            start, end = month.bounds
            op.execute(
                f"CREATE TABLE {month.partition(table)} PARTITION OF {fresh} "
                f"FOR VALUES FROM ({start}) TO ({end})"
            )
        op.execute(f"INSERT INTO {fresh} SELECT * FROM {table}")
        op.execute(
            "INSERT INTO fact_keys (org_id, fact, scope, idempotency_key, id, content_hash) "
            f"SELECT org_id, '{table}', {_SCOPE[table]}, idempotency_key, id, content_hash "
            f"FROM {table} ON CONFLICT DO NOTHING"
        )
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {fresh} RENAME TO {table}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id, ts)")
        for statement in _INDEXES[table]:
            op.execute(statement)


def downgrade() -> None:
    for table in PARTITIONED if op.get_bind().dialect.name == "postgresql" else ():
        old = f"{table}_prev"
        op.execute(f"CREATE TABLE {old} (LIKE {table} INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO {old} SELECT * FROM {table}")
        op.execute(f"DROP TABLE {table}")  # and its partitions
        op.execute(f"ALTER TABLE {old} RENAME TO {table}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
        for statement in _BEFORE[table]:
            op.execute(statement)
    op.drop_table("fact_archives")
    op.drop_table("fact_keys")
