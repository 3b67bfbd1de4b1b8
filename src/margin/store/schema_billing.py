"""Billing tables: meters over generic events, plans, orders, invoices and their numbering."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from margin.store._base import Id, Json, Micros, Nanos, metadata

__all__ = ["invoice_counters", "invoices", "meters", "orders", "plans"]


# A meter measures generic events: ``value_property`` is a JSONPath into ``events.data``;
# ``group_by`` maps a dimension name to a JSONPath. Cost meters carry a decimal unit cost.
meters = Table(
    "meters",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("name", String(256)),
    Column("event_type", String(256), nullable=False),
    Column("value_property", String(512)),
    Column("aggregation", String(16), nullable=False),
    Column("group_by", Json, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("unit_cost", String(64)),
    Column("currency", String(3)),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("org_id", "key"),
    Index(None, "org_id", "event_type"),
)

# A plan: charges (outcome prices, recurring fees, usage charges, minimum) in one currency,
# optionally on one agent. ``charges`` is the validated JSON document (decimal strings).
plans = Table(
    "plans",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("name", String(256)),
    Column("agent_id", Id),
    Column("currency", String(3), nullable=False),
    Column("charges", Json, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("org_id", "key"),
)

# An order subscribes a customer to a plan over [starts_at, ends_at) with price overrides.
orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("customer_id", Id, nullable=False),
    Column("plan_id", Id, ForeignKey("plans.id"), nullable=False),
    Column("starts_at", Micros, nullable=False),
    Column("ends_at", Micros),
    Column("overrides", Json, nullable=False),
    Column("created_at", Micros, nullable=False),
    Index(None, "org_id", "customer_id"),
)

# One invoice per customer × currency × period (calendar month, UTC). ``as_of`` is the
# ingestion watermark of the data it was rated from: after finalization, facts created later
# than it are late and roll into the next draft.
invoices = Table(
    "invoices",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("customer_id", Id, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("period", String(7), nullable=False),
    Column("period_start", Micros, nullable=False),
    Column("period_end", Micros, nullable=False),
    Column("status", String(16), nullable=False),
    Column("number", String(32)),
    Column("lines", Json, nullable=False),
    Column("total_nanos", Nanos, nullable=False),
    Column("cost", Json, nullable=False),
    Column("as_of", Micros, nullable=False),
    Column("void_reason", String(512)),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    Column("finalized_at", Micros),
    Column("voided_at", Micros),
    Index(None, "org_id", "customer_id", "period"),
)

# Per-organization, per-year invoice number sequence (INV-2026-0001, …).
invoice_counters = Table(
    "invoice_counters",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
)
