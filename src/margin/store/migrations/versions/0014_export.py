"""events by time, for exports

An export reads a period's events in (time, id) order, a chunk at a time. The only index on
events led with the event type, so every chunk sorted all of the period's events again; an
index on (org, time) lets each chunk start where the previous one ended.

Revision ID: 0014_export
Revises: 0013_control
"""

from __future__ import annotations

from alembic import op

revision = "0014_export"
down_revision = "0013_control"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_org_id_ts", "events", ["org_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_events_org_id_ts", table_name="events")
