"""partial indexes for unpriced and attributed costs

Most costs are priced, and many are never attributed to a signal: indexing every cost by
``priced_by`` and ``signal_id`` made each insert update two more B-trees for rows no query
looks up that way. The indexes now hold only the rows that are looked up.

Revision ID: 0006_partial_cost_indexes
Revises: 0005_repricings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_partial_cost_indexes"
down_revision = "0005_repricings"
branch_labels = None
depends_on = None

_UNPRICED = sa.text("priced_by = 'unpriced'")
_ATTRIBUTED = sa.text("signal_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_costs_org_id_priced_by", table_name="costs")
    op.drop_index("ix_costs_org_id_signal_id", table_name="costs")
    op.create_index(
        "ix_costs_unpriced",
        "costs",
        ["org_id", "ts"],
        sqlite_where=_UNPRICED,
        postgresql_where=_UNPRICED,
    )
    op.create_index(
        "ix_costs_attributed",
        "costs",
        ["org_id", "signal_id"],
        sqlite_where=_ATTRIBUTED,
        postgresql_where=_ATTRIBUTED,
    )


def downgrade() -> None:
    op.drop_index("ix_costs_attributed", table_name="costs")
    op.drop_index("ix_costs_unpriced", table_name="costs")
    op.create_index("ix_costs_org_id_signal_id", "costs", ["org_id", "signal_id"])
    op.create_index("ix_costs_org_id_priced_by", "costs", ["org_id", "priced_by"])
