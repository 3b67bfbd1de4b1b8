"""organization settings and exchange rates

The reporting currency and the seller's details of each organization, and the exchange
rates it manages (set by hand or imported from CSV or the ECB's reference-rate XML).

Revision ID: 0010_exchange_rates
Revises: 0009_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010_exchange_rates"
down_revision = "0009_sessions"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "organization_settings",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("reporting_currency", sa.String(length=3), nullable=False),
        sa.Column("seller_legal_name", sa.String(length=200), nullable=True),
        sa.Column("seller_address", _JSON, nullable=True),
        sa.Column("seller_email", sa.String(length=320), nullable=True),
        sa.Column("seller_tax_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_organization_settings_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_organization_settings")),
    )
    op.create_table(
        "exchange_rates",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.String(length=48), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_exchange_rates_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("org_id", "base", "quote", "day", name=op.f("pk_exchange_rates")),
    )
    op.create_index("ix_exchange_rates_org_id_day", "exchange_rates", ["org_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_exchange_rates_org_id_day", table_name="exchange_rates")
    op.drop_table("exchange_rates")
    op.drop_table("organization_settings")
