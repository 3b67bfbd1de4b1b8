"""customer units: a customer's sub-accounts (Paid's customer units), each with an external id;
an entitlement is keyed by (customer, unit, feature), '' naming the customer itself

Revision ID: 0016_customer_units
Revises: 0015_party_mappings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0016_customer_units"
down_revision = "0015_party_mappings"
branch_labels = None
depends_on = None

_OLD_KEY = "uq_control_entitlements_org_id_customer_id_feature_id"
_NEW_KEY = "uq_control_entitlements_org_id_customer_id_unit_id_feature_id"
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "control_customer_units",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_customer_units")),
        sa.UniqueConstraint(
            "org_id",
            "customer_id",
            "external_id",
            name=op.f("uq_control_customer_units_org_id_customer_id_external_id"),
        ),
    )
    # An entitlement may be given to a unit: its key is (customer, unit, feature).
    with op.batch_alter_table("control_entitlements") as batch:
        batch.add_column(
            sa.Column("unit_id", sa.String(length=40), nullable=False, server_default="")
        )
        batch.drop_constraint(_OLD_KEY, type_="unique")
        batch.create_unique_constraint(_NEW_KEY, ["org_id", "customer_id", "unit_id", "feature_id"])


def downgrade() -> None:
    op.execute("DELETE FROM control_entitlements WHERE unit_id <> ''")
    with op.batch_alter_table("control_entitlements") as batch:
        batch.drop_constraint(_NEW_KEY, type_="unique")
        batch.create_unique_constraint(_OLD_KEY, ["org_id", "customer_id", "feature_id"])
        batch.drop_column("unit_id")
    op.drop_table("control_customer_units")
