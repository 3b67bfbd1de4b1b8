"""meters, plans, orders, invoices (billing)

Revision ID: 0003_billing
Revises: 0002_pricing
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_billing"
down_revision = "0002_pricing"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"], ["organizations.id"], name=op.f(f"fk_{table}_org_id_organizations")
    )


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("event_type", sa.String(length=256), nullable=False),
        sa.Column("value_property", sa.String(length=512), nullable=True),
        sa.Column("aggregation", sa.String(length=16), nullable=False),
        sa.Column("group_by", _json(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit_cost", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _org_fk("meters"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("org_id", "key", name=op.f("uq_meters_org_id_key")),
    )
    op.create_index(op.f("ix_meters_org_id_event_type"), "meters", ["org_id", "event_type"])
    op.create_table(
        "plans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("agent_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charges", _json(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _org_fk("plans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("org_id", "key", name=op.f("uq_plans_org_id_key")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("starts_at", sa.BigInteger(), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=True),
        sa.Column("overrides", _json(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _org_fk("orders"),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_orders_plan_id_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_org_id_customer_id"), "orders", ["org_id", "customer_id"])
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("lines", _json(), nullable=False),
        sa.Column("total_nanos", sa.BigInteger(), nullable=False),
        sa.Column("cost", _json(), nullable=False),
        sa.Column("as_of", sa.BigInteger(), nullable=False),
        sa.Column("void_reason", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("finalized_at", sa.BigInteger(), nullable=True),
        sa.Column("voided_at", sa.BigInteger(), nullable=True),
        _org_fk("invoices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
    )
    op.create_index(
        op.f("ix_invoices_org_id_customer_id_period"),
        "invoices",
        ["org_id", "customer_id", "period"],
    )
    op.create_table(
        "invoice_counters",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "year", name=op.f("pk_invoice_counters")),
    )

    _daily_rollups()


_DAY_US = 86_400_000_000
_COST_KEYS = [
    "org_id",
    "bucket",
    "customer_id",
    "agent_id",
    "event_name",
    "provider",
    "model",
    "currency",
]
_SIGNAL_KEYS = ["org_id", "bucket", "customer_id", "agent_id", "event_name"]


def _daily_rollups() -> None:
    """Daily copies of the hourly rollups, backfilled from them."""
    columns: dict[str, sa.types.TypeEngine[Any]] = {
        "org_id": sa.String(length=40),
        "bucket": sa.BigInteger(),
        "customer_id": sa.String(length=40),
        "agent_id": sa.String(length=40),
        "event_name": sa.String(length=256),
        "provider": sa.String(length=64),
        "model": sa.String(length=256),
        "currency": sa.String(length=3),
    }
    op.create_table(
        "cost_rollups_daily",
        *(sa.Column(name, columns[name], nullable=False) for name in _COST_KEYS),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("unpriced", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*_COST_KEYS, name=op.f("pk_cost_rollups_daily")),
    )
    op.create_table(
        "signal_rollups_daily",
        *(sa.Column(name, columns[name], nullable=False) for name in _SIGNAL_KEYS),
        sa.Column("signals", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*_SIGNAL_KEYS, name=op.f("pk_signal_rollups_daily")),
    )
    day = f"bucket - bucket % {_DAY_US}"
    rest = ", ".join(_COST_KEYS[2:])
    op.execute(
        f"INSERT INTO cost_rollups_daily SELECT org_id, {day}, {rest}, sum(amount_nanos),"
        f" sum(records), sum(unpriced) FROM cost_rollups GROUP BY org_id, {day}, {rest}"
    )
    rest = ", ".join(_SIGNAL_KEYS[2:])
    op.execute(
        f"INSERT INTO signal_rollups_daily SELECT org_id, {day}, {rest}, sum(signals)"
        f" FROM signal_rollups GROUP BY org_id, {day}, {rest}"
    )


def downgrade() -> None:
    op.drop_table("signal_rollups_daily")
    op.drop_table("cost_rollups_daily")
    op.drop_table("invoice_counters")
    op.drop_index(op.f("ix_invoices_org_id_customer_id_period"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_orders_org_id_customer_id"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("plans")
    op.drop_index(op.f("ix_meters_org_id_event_type"), table_name="meters")
    op.drop_table("meters")
