"""compatibility layers: vendor records without a Margin table, and Paid's cost scopes

Revision ID: 0012_compat
Revises: 0011_cost_totals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012_compat"
down_revision = "0011_cost_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compat_records",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("org_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(256)),
        sa.Column("parent_id", sa.String(40)),
        sa.Column("doc", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name="fk_compat_records_org_id_organizations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_compat_records"),
        sa.UniqueConstraint(
            "org_id", "kind", "external_id", name="uq_compat_records_org_id_kind_external_id"
        ),
    )
    op.create_index(
        "ix_compat_records_org_id_kind_parent_id",
        "compat_records",
        ["org_id", "kind", "parent_id"],
    )
    op.create_table(
        "paid_scope_signals",
        sa.Column("org_id", sa.String(40), nullable=False),
        sa.Column("customer", sa.String(256), nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("signal_id", sa.String(40), nullable=False),
        sa.Column("event_name", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "customer", "scope_id", name="pk_paid_scope_signals"),
    )
    op.create_table(
        "paid_scope_costs",
        sa.Column("org_id", sa.String(40), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("cost_key", sa.String(256), nullable=False),
        sa.Column("customer", sa.String(256), nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "trace_id", "cost_key", name="pk_paid_scope_costs"),
    )
    op.create_index(
        "ix_paid_scope_costs_org_id_customer_scope_id",
        "paid_scope_costs",
        ["org_id", "customer", "scope_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_paid_scope_costs_org_id_customer_scope_id", "paid_scope_costs")
    op.drop_table("paid_scope_costs")
    op.drop_table("paid_scope_signals")
    op.drop_index("ix_compat_records_org_id_kind_parent_id", "compat_records")
    op.drop_table("compat_records")
