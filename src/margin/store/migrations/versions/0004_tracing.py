"""costs by attributed signal (the signal view sums them)

Revision ID: 0004_tracing
Revises: 0003_billing
"""

from __future__ import annotations

from alembic import op

revision = "0004_tracing"
down_revision = "0003_billing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_costs_org_id_signal_id", "costs", ["org_id", "signal_id"])


def downgrade() -> None:
    op.drop_index("ix_costs_org_id_signal_id", table_name="costs")
