"""each organization's cost total per currency; exact rollups

``cost_totals`` holds, per organization and currency, the sum of its stored costs. Ingest
keeps it below 2⁶³ nano-units, so every rollup and every report sum is an exact 64-bit
integer on both stores. It is filled from the stored costs.

On SQLite an hourly or daily cost rollup that passed 64 bits before this limit existed was
turned into a floating-point number; such rows are computed again from the facts (hourly)
and from the hourly rows (daily) when the exact sum fits.

Revision ID: 0011_cost_totals
Revises: 0010_exchange_rates
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011_cost_totals"
down_revision = "0010_exchange_rates"
branch_labels = None
depends_on = None

_HOUR_US = 3_600_000_000
_DAY_US = 86_400_000_000
_MAX = 2**63 - 1
_DIMS = ("customer_id", "agent_id", "event_name", "provider", "model", "currency")


def upgrade() -> None:
    op.create_table(
        "cost_totals",
        sa.Column("org_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "currency", name="pk_cost_totals"),
    )
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _repair_float_rollups(conn)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    try:
        rows: Any = conn.execute(
            sa.text(
                "SELECT org_id, currency, sum(amount_nanos) FROM costs "
                "WHERE amount_nanos IS NOT NULL GROUP BY org_id, currency"
            )
        ).all()
    except sa.exc.OperationalError:  # SQLite: a sum past 64 bits ("integer overflow")
        rows = conn.execute(
            sa.text(
                "SELECT org_id, currency, amount_nanos FROM costs WHERE amount_nanos IS NOT NULL"
            )
        )
    for org_id, currency, nanos in rows:
        totals[(org_id, currency)] += int(nanos)
    if totals:
        op.bulk_insert(
            sa.table(
                "cost_totals",
                sa.column("org_id", sa.String),
                sa.column("currency", sa.String),
                sa.column("amount_nanos", sa.BigInteger),
            ),
            [
                {"org_id": org, "currency": cur, "amount_nanos": min(total, _MAX)}
                for (org, cur), total in sorted(totals.items())
            ],
        )


def _repair_float_rollups(conn: sa.Connection) -> None:
    hourly = conn.execute(
        sa.text(
            "SELECT org_id, bucket FROM cost_rollups WHERE typeof(amount_nanos) != 'integer' "
            "GROUP BY org_id, bucket"
        )
    ).all()
    for org_id, bucket in hourly:
        sums: dict[tuple[Any, ...], int] = defaultdict(int)
        facts = conn.execute(
            sa.text(
                "SELECT c.customer_id, c.agent_id, s.event_name, c.provider, c.model, c.currency,"
                " c.amount_nanos FROM costs c LEFT JOIN signals s ON s.id = c.signal_id"
                " WHERE c.org_id = :org AND c.ts >= :lo AND c.ts < :hi"
                " AND c.amount_nanos IS NOT NULL"
            ),
            {"org": org_id, "lo": bucket, "hi": bucket + _HOUR_US},
        )
        for *dims, nanos in facts:
            sums[tuple(d or "" for d in dims)] += int(nanos)
        for key, total in sums.items():
            if total <= _MAX:
                _set(conn, "cost_rollups", org_id, bucket, key, total)
    days = conn.execute(
        sa.text(
            "SELECT org_id, bucket FROM cost_rollups_daily "
            "WHERE typeof(amount_nanos) != 'integer' GROUP BY org_id, bucket"
        )
    ).all()
    for org_id, day in days:
        sums = defaultdict(int)
        rows = conn.execute(
            sa.text(
                f"SELECT {', '.join(_DIMS)}, amount_nanos FROM cost_rollups"
                " WHERE org_id = :org AND bucket >= :lo AND bucket < :hi"
            ),
            {"org": org_id, "lo": day, "hi": day + _DAY_US},
        )
        for *dims, nanos in rows:
            if isinstance(nanos, int):
                sums[tuple(dims)] += nanos
        for key, total in sums.items():
            if total <= _MAX:
                _set(conn, "cost_rollups_daily", org_id, day, key, total)


def _set(
    conn: sa.Connection, table: str, org_id: str, bucket: int, dims: tuple[Any, ...], total: int
) -> None:
    where = " AND ".join(f"{name} = :{name}" for name in _DIMS)
    conn.execute(
        sa.text(
            f"UPDATE {table} SET amount_nanos = :total WHERE org_id = :org AND bucket = :bucket"
            f" AND {where} AND typeof(amount_nanos) != 'integer'"
        ),
        {"total": total, "org": org_id, "bucket": bucket, **dict(zip(_DIMS, dims, strict=True))},
    )


def downgrade() -> None:
    op.drop_table("cost_totals")
