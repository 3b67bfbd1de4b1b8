"""meters, plans, orders, invoices (billing)

Revision ID: 0003_billing
Revises: 0002_pricing
"""

from __future__ import annotations

revision = "0003_billing"
down_revision = "0002_pricing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
