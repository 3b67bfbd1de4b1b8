"""the history of deliberate re-pricing

Revision ID: 0005_repricings
Revises: 0004_tracing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_repricings"
down_revision = "0004_tracing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cost_repricings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("cost_id", sa.String(length=40), nullable=False),
        sa.Column("old_amount_nanos", sa.BigInteger(), nullable=True),
        sa.Column("old_currency", sa.String(length=3), nullable=False),
        sa.Column("old_priced_by", sa.String(length=16), nullable=False),
        sa.Column("old_price_ref", sa.String(length=256), nullable=True),
        sa.Column("new_amount_nanos", sa.BigInteger(), nullable=True),
        sa.Column("new_currency", sa.String(length=3), nullable=False),
        sa.Column("new_priced_by", sa.String(length=16), nullable=False),
        sa.Column("new_price_ref", sa.String(length=256), nullable=True),
        sa.Column("repriced_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_repricings")),
    )
    op.create_index("ix_cost_repricings_org_id_cost_id", "cost_repricings", ["org_id", "cost_id"])


def downgrade() -> None:
    op.drop_index("ix_cost_repricings_org_id_cost_id", table_name="cost_repricings")
    op.drop_table("cost_repricings")
