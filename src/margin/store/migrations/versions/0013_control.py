"""control plane: features, entitlements, credit grants and ledger, alerts, webhooks

Revision ID: 0013_control
Revises: 0012_compat
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0013_control"
down_revision = "0012_compat"
branch_labels = None
depends_on = None

_TABLES = (
    "control_webhook_messages",
    "control_webhook_endpoints",
    "control_webhook_deliveries",
    "control_webhook_attempts",
    "control_features",
    "control_entitlements",
    "control_credit_ledger",
    "control_credit_grants",
    "control_credit_accounts",
    "control_alerts",
    "control_alert_rules",
)


def upgrade() -> None:
    op.create_table(
        "control_alert_rules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("metric", sa.String(length=24), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("agent_id", sa.String(length=40), nullable=True),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column(
            "thresholds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_alert_rules")),
    )
    op.create_index(
        op.f("ix_control_alert_rules_org_id"), "control_alert_rules", ["org_id"], unique=False
    )
    op.create_table(
        "control_alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("threshold", sa.String(length=64), nullable=False),
        sa.Column("party", sa.String(length=96), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("triggered_at", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_alerts")),
        sa.UniqueConstraint(
            "rule_id",
            "threshold",
            "party",
            "period_start",
            name=op.f("uq_control_alerts_rule_id_threshold_party_period_start"),
        ),
    )
    op.create_index(
        op.f("ix_control_alerts_org_id_triggered_at"),
        "control_alerts",
        ["org_id", "triggered_at"],
        unique=False,
    )
    op.create_table(
        "control_credit_accounts",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("overage_nanos", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "customer_id", "currency", name=op.f("pk_control_credit_accounts")
        ),
    )
    op.create_table(
        "control_credit_grants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("remaining_nanos", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("effective_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("rollover_max_nanos", sa.BigInteger(), nullable=True),
        sa.Column("recurrence", sa.String(length=8), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.String(length=40), nullable=True),
        sa.Column("description", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_credit_grants")),
    )
    op.create_index(
        op.f("ix_control_credit_grants_closed_at_expires_at"),
        "control_credit_grants",
        ["closed_at", "expires_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_control_credit_grants_org_id_customer_id_currency"),
        "control_credit_grants",
        ["org_id", "customer_id", "currency"],
        unique=False,
    )
    op.create_table(
        "control_credit_ledger",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("grant_id", sa.String(length=40), nullable=True),
        sa.Column("delta_nanos", sa.BigInteger(), nullable=False),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=256), nullable=True),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_credit_ledger")),
    )
    op.create_index(
        op.f("ix_control_credit_ledger_org_id_customer_id_currency_ts"),
        "control_credit_ledger",
        ["org_id", "customer_id", "currency", "ts"],
        unique=False,
    )
    op.create_table(
        "control_entitlements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("feature_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("limit_nanos", sa.BigInteger(), nullable=True),
        sa.Column("period", sa.String(length=8), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("hard", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_entitlements")),
        sa.UniqueConstraint(
            "org_id",
            "customer_id",
            "feature_id",
            name=op.f("uq_control_entitlements_org_id_customer_id_feature_id"),
        ),
    )
    op.create_table(
        "control_features",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("backed_by", sa.String(length=16), nullable=False),
        sa.Column("meter_key", sa.String(length=128), nullable=True),
        sa.Column("event_name", sa.String(length=256), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("credit_currency", sa.String(length=32), nullable=True),
        sa.Column("unit_credits_nanos", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_features")),
        sa.UniqueConstraint("org_id", "key", name=op.f("uq_control_features_org_id_key")),
    )
    op.create_table(
        "control_webhook_attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.Column("duration_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_control_webhook_attempts_delivery_id"),
        "control_webhook_attempts",
        ["delivery_id"],
        unique=False,
    )
    op.create_table(
        "control_webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_control_webhook_deliveries_org_id_endpoint_id_created_at"),
        "control_webhook_deliveries",
        ["org_id", "endpoint_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_control_webhook_deliveries_status_next_attempt_at"),
        "control_webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "control_webhook_endpoints",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column(
            "event_types",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("previous_secret", sa.String(length=128), nullable=True),
        sa.Column("previous_until", sa.BigInteger(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("failure_streak", sa.Integer(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_webhook_endpoints")),
    )
    op.create_index(
        op.f("ix_control_webhook_endpoints_org_id"),
        "control_webhook_endpoints",
        ["org_id"],
        unique=False,
    )
    op.create_table(
        "control_webhook_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_webhook_messages")),
    )


def downgrade() -> None:
    for name in _TABLES:
        op.drop_table(name)
