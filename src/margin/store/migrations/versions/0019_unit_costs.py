"""unit costs and unit trees: an AI cost names the customer unit it is attributed to; a
unit may sit under a parent unit of the same customer (Paid's ``parentExternalId``), carry a
free type label (``externalType``) and a cap on what it may spend (``cap``)

``costs.unit_id`` is null for the customer itself, as on signals and events (migration 0018).
On PostgreSQL ``costs`` is partitioned (migration 0017): the column and the partial index
added to the parent reach every partition, and only the costs of a unit pay for the index.

Revision ID: 0019_unit_costs
Revises: 0018_unit_usage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0019_unit_costs"
down_revision = "0018_unit_usage"
branch_labels = None
depends_on = None

_INDEX = "ix_costs_unit"
_UNITS = "control_customer_units"
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Adding a nullable column without a default rewrites no row on either store.
    op.add_column("costs", sa.Column("unit_id", sa.String(length=40), nullable=True))
    op.create_index(
        _INDEX,
        "costs",
        ["org_id", "unit_id", "ts"],
        sqlite_where=sa.text("unit_id IS NOT NULL"),
        postgresql_where=sa.text("unit_id IS NOT NULL"),
    )
    with op.batch_alter_table(_UNITS) as batch:
        batch.add_column(sa.Column("parent_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("external_type", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("cap", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(_UNITS) as batch:
        batch.drop_column("cap")
        batch.drop_column("external_type")
        batch.drop_column("parent_id")
    op.drop_index(_INDEX, table_name="costs")
    with op.batch_alter_table("costs") as batch:
        batch.drop_column("unit_id")
