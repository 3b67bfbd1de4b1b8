"""unit usage: signals and events name the customer unit they are attributed to, credit
grants may be given to a unit, and each credit ledger row names the unit it concerns

``unit_id`` of a fact is null for the customer itself; of a grant or a ledger row it is ''
(as in ``control_entitlements``, migration 0016). On PostgreSQL the fact tables are
partitioned (migration 0017): a column added to, and an index created on, the parent reaches
every partition. The indexes are partial: only the facts of a unit pay for them.

Revision ID: 0018_unit_usage
Revises: 0017_partitions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_unit_usage"
down_revision = "0017_partitions"
branch_labels = None
depends_on = None

_FACTS = ("signals", "events")
_CONTROL = ("control_credit_grants", "control_credit_ledger")


def _index(table: str) -> str:
    return f"ix_{table}_unit"


def upgrade() -> None:
    for table in _FACTS:
        # Adding a nullable column without a default rewrites no row on either store.
        op.add_column(table, sa.Column("unit_id", sa.String(length=40), nullable=True))
        op.create_index(
            _index(table),
            table,
            ["org_id", "unit_id", "ts"],
            sqlite_where=sa.text("unit_id IS NOT NULL"),
            postgresql_where=sa.text("unit_id IS NOT NULL"),
        )
    for table in _CONTROL:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("unit_id", sa.String(length=40), nullable=False, server_default="")
            )


def downgrade() -> None:
    # A unit's grants, and the rows of their history, have no customer-level meaning: they
    # go. A unit's burns of its customer's grants stay, as the customer's.
    op.execute(
        "DELETE FROM control_credit_ledger WHERE grant_id IN "
        "(SELECT id FROM control_credit_grants WHERE unit_id <> '')"
    )
    op.execute("DELETE FROM control_credit_grants WHERE unit_id <> ''")
    for table in _CONTROL:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("unit_id")
    for table in _FACTS:
        op.drop_index(_index(table), table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("unit_id")
