"""OTLP costs are found by trace through their idempotency key

Every cost received over OTLP has an idempotency key that starts with ``otlp:{trace_id}:``,
so the unique key index already orders them by trace. The trace index now holds only the
other costs: an OTLP cost no longer takes a row at a random place of a third B-tree, which
at a store's working size is a page written for nearly every cost.

Revision ID: 0008_otlp_costs_by_key
Revises: 0007_cost_price_context
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_otlp_costs_by_key"
down_revision = "0007_cost_price_context"
branch_labels = None
depends_on = None

_NOT_OTLP = sa.text("source != 'otlp'")


def upgrade() -> None:
    op.drop_index("ix_costs_org_id_trace_id", table_name="costs")
    op.create_index(
        "ix_costs_traced",
        "costs",
        ["org_id", "trace_id"],
        sqlite_where=_NOT_OTLP,
        postgresql_where=_NOT_OTLP,
    )


def downgrade() -> None:
    op.drop_index("ix_costs_traced", table_name="costs")
    op.create_index("ix_costs_org_id_trace_id", "costs", ["org_id", "trace_id"])
