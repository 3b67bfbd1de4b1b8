"""The compatibility layers' tables (``margin.compat``): vendor records without a Margin
table, and Paid's cost scopes."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, UniqueConstraint

from margin.store._base import Id, Json, Micros, metadata

__all__ = ["compat_records", "paid_scope_costs", "paid_scope_signals"]


# Objects a vendor's API has and Margin has no table for (Paid's contacts), as documents:
# ``kind`` names the vendor's resource, ``parent_id`` the customer it belongs to.
compat_records = Table(
    "compat_records",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("external_id", String(256)),
    Column("parent_id", Id),
    Column("doc", Json, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("org_id", "kind", "external_id"),
    Index(None, "org_id", "kind", "parent_id"),
)

# Paid's cost-attributed signals (``cost_attributed_signal``): a REST signal names a
# ``paid_scope_id`` and claims the costs of the spans stamped with it, for one customer.
paid_scope_signals = Table(
    "paid_scope_signals",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("customer", String(256), primary_key=True),
    Column("scope_id", BigInteger, primary_key=True),
    Column("signal_id", Id, nullable=False),
    Column("event_name", String(256), nullable=False),
)

# The OTLP costs whose span carried a ``paid_scope_id`` (by the cost's trace and key).
paid_scope_costs = Table(
    "paid_scope_costs",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("trace_id", String(32), primary_key=True),
    Column("cost_key", String(256), primary_key=True),
    Column("customer", String(256), nullable=False),
    Column("scope_id", BigInteger, nullable=False),
    Index(None, "org_id", "customer", "scope_id"),
)
