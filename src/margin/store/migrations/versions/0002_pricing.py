"""tenant price overrides (pricing engine)

Revision ID: 0002_pricing
Revises: 0001_core
"""

from __future__ import annotations

revision = "0002_pricing"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
