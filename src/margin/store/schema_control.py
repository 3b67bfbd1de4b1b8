"""The control plane's tables: features, customer units, entitlements, credit grants and their ledger, alert
rules and fired alerts, webhook endpoints and the outbox their deliveries are sent from.

Quantities (a usage limit, a credit amount) are integer nano-units like money: a count of
meetings is ``count × 10⁹``, so one column holds a credit currency or a real one exactly.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from margin.store._base import Id, Json, Micros, Nanos, metadata

__all__ = [
    "alert_rules",
    "alerts",
    "credit_accounts",
    "credit_grants",
    "credit_ledger",
    "customer_units",
    "entitlements",
    "features",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "webhook_messages",
]

#: What a feature measures: a meter, signals of one event name, or AI cost in a currency.
features = Table(
    "control_features",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("key", String(128), nullable=False),
    Column("name", String(256), nullable=False),
    Column("backed_by", String(16), nullable=False),
    Column("meter_key", String(128)),
    Column("event_name", String(256)),
    Column("currency", String(3)),
    # Usage of the feature burns this credit currency, ``unit_credits_nanos`` per unit
    # (for AI cost: per unit of money).
    Column("credit_currency", String(32)),
    Column("unit_credits_nanos", Nanos),
    Column("created_at", Micros, nullable=False),
    UniqueConstraint("org_id", "key"),
)

#: A customer's sub-accounts (Paid's customer units), named by an external id of their own.
customer_units = Table(
    "control_customer_units",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("customer_id", Id, nullable=False),
    Column("external_id", String(256), nullable=False),
    Column("name", String(256)),
    Column("metadata", Json, nullable=False),
    Column("created_at", Micros, nullable=False),
    # The unit it sits under, of the same customer (migration 0019); None: a top unit.
    Column("parent_id", Id),
    # A free label of what the unit is (Paid's ``externalType``, e.g. "team").
    Column("external_type", String(256)),
    # What the unit may spend per period (Paid's customer-unit cap); None: no cap.
    Column("cap", Json),
    UniqueConstraint("org_id", "customer_id", "external_id"),
)

entitlements = Table(
    "control_entitlements",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("customer_id", Id, nullable=False),
    # The customer unit it is given to; '' for the customer itself (one key, no NULLs).
    Column("unit_id", Id, nullable=False, server_default=""),
    Column("feature_id", Id, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("config", Json, nullable=False),
    Column("limit_nanos", Nanos),
    Column("period", String(8)),
    Column("time_zone", String(64), nullable=False),
    Column("hard", Boolean, nullable=False),
    Column("created_at", Micros, nullable=False),
    UniqueConstraint("org_id", "customer_id", "unit_id", "feature_id"),
)

#: One row per customer and credit currency: burns lock it, so concurrent burns queue.
credit_accounts = Table(
    "control_credit_accounts",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("customer_id", Id, primary_key=True),
    Column("currency", String(32), primary_key=True),
    # Consumption that found no grant left: owed, taken from the next grant.
    Column("overage_nanos", Nanos, nullable=False),
)

credit_grants = Table(
    "control_credit_grants",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("customer_id", Id, nullable=False),
    # The customer unit the grant is given to ('': the customer itself; migration 0018).
    Column("unit_id", Id, nullable=False, server_default=""),
    Column("currency", String(32), nullable=False),
    Column("amount_nanos", Nanos, nullable=False),
    Column("remaining_nanos", Nanos, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("effective_at", Micros, nullable=False),
    Column("expires_at", Micros),
    Column("rollover_max_nanos", Nanos),
    Column("recurrence", String(8)),
    Column("time_zone", String(64), nullable=False),
    Column("parent_id", Id),
    Column("description", String(256)),
    Column("created_at", Micros, nullable=False),
    Column("closed_at", Micros),
    Index(None, "org_id", "customer_id", "currency"),
    Index(None, "closed_at", "expires_at"),
)

#: Every change of a balance, with its cause: grant, usage, expiry, rollover, invoice, void.
credit_ledger = Table(
    "control_credit_ledger",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("customer_id", Id, nullable=False),
    Column("currency", String(32), nullable=False),
    Column("grant_id", Id),
    Column("delta_nanos", Nanos, nullable=False),
    Column("cause", String(16), nullable=False),
    Column("ref", String(256)),
    Column("ts", Micros, nullable=False),
    # The unit whose grant or usage the row is ('': the customer's own; migration 0018).
    Column("unit_id", Id, nullable=False, server_default=""),
    Index(None, "org_id", "customer_id", "currency", "ts"),
)

alert_rules = Table(
    "control_alert_rules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("name", String(256), nullable=False),
    Column("metric", String(24), nullable=False),
    Column("customer_id", Id),
    Column("agent_id", Id),
    Column("params", Json, nullable=False),
    Column("period", String(8), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("thresholds", Json, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Micros, nullable=False),
    Index(None, "org_id"),
)

#: A threshold crossed by a party in a period: at most one row each, so it fires once.
alerts = Table(
    "control_alerts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("rule_id", Id, nullable=False),
    Column("threshold", String(64), nullable=False),
    Column("party", String(96), nullable=False),
    Column("period_start", Micros, nullable=False),
    Column("value", String(64), nullable=False),
    Column("state", String(12), nullable=False),
    Column("triggered_at", Micros, nullable=False),
    Column("resolved_at", Micros),
    UniqueConstraint("rule_id", "threshold", "party", "period_start"),
    Index(None, "org_id", "triggered_at"),
)

webhook_endpoints = Table(
    "control_webhook_endpoints",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", Json, nullable=False),
    Column("secret", String(128), nullable=False),
    # After a rotation the old secret also signs until ``previous_until``.
    Column("previous_secret", String(128)),
    Column("previous_until", Micros),
    Column("enabled", Boolean, nullable=False),
    Column("failure_streak", Integer, nullable=False),
    Column("disabled_reason", String(256)),
    Column("created_at", Micros, nullable=False),
    Index(None, "org_id"),
)

#: The outbox: one message per event, written in the transaction of its cause.
webhook_messages = Table(
    "control_webhook_messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", Micros, nullable=False),
)

webhook_deliveries = Table(
    "control_webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("message_id", Id, nullable=False),
    Column("endpoint_id", Id, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Micros, nullable=False),
    # A sender holds a delivery until then; a sender that dies lets it go when it passes.
    Column("locked_until", Micros, nullable=False),
    Column("last_status_code", Integer),
    Column("created_at", Micros, nullable=False),
    Column("delivered_at", Micros),
    Index(None, "status", "next_attempt_at"),
    Index(None, "org_id", "endpoint_id", "created_at"),
)

webhook_attempts = Table(
    "control_webhook_attempts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("delivery_id", Id, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ts", Micros, nullable=False),
    Column("status_code", Integer),
    Column("error", String(512)),
    Column("duration_us", Micros, nullable=False),
    Index(None, "delivery_id"),
)
