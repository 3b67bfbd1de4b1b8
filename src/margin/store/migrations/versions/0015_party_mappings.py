"""party mappings: the span attributes that name an organization's customers and agents

Revision ID: 0015_party_mappings
Revises: 0014_export
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015_party_mappings"
down_revision = "0014_export"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "party_mappings",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_keys", _JSON, nullable=False),
        sa.Column("agent_keys", _JSON, nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_party_mappings_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_party_mappings")),
    )


def downgrade() -> None:
    op.drop_table("party_mappings")
