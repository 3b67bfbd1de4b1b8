"""the price context a cost was priced with

A cost priced with a request context (``price_context``, e.g. ``{"processing": "batch"}``)
keeps it, so that re-pricing applies the same context instead of the standard price.

Revision ID: 0007_cost_price_context
Revises: 0006_partial_cost_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_cost_price_context"
down_revision = "0006_partial_cost_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("costs") as batch_op:
        batch_op.add_column(
            sa.Column("price_context", sa.JSON().with_variant(JSONB(), "postgresql"))
        )


def downgrade() -> None:
    with op.batch_alter_table("costs") as batch_op:
        batch_op.drop_column("price_context")
