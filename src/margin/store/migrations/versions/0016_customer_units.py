"""customer units: a customer's sub-accounts, which entitlements and credit grants can name

Revision ID: 0016_customer_units
Revises: 0015_party_mappings
"""

from __future__ import annotations

revision = "0016_customer_units"
down_revision = "0015_party_mappings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
