"""The relational schema (SQLAlchemy Core). Alembic migrations create it; code reads it.

Conventions: ids are prefixed text; times are integer microseconds since the epoch (UTC);
money is integer nano-units (10⁻⁹ of the currency unit) beside an ISO 4217 currency code;
free-form payloads are JSON. Raw facts (signals, costs, events, spans) are append-only.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "NOT_OTLP",
    "OTLP",
    "agents",
    "api_keys",
    "compat_records",
    "cost_repricings",
    "cost_rollups",
    "cost_rollups_daily",
    "cost_totals",
    "costs",
    "customers",
    "events",
    "exchange_rates",
    "invoice_counters",
    "invoices",
    "metadata",
    "meters",
    "orders",
    "organization_settings",
    "organizations",
    "paid_scope_costs",
    "paid_scope_signals",
    "plans",
    "price_overrides",
    "sessions",
    "signal_rollups",
    "signal_rollups_daily",
    "signals",
    "spans",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: JSON on SQLite, JSONB on PostgreSQL.
Json = JSON().with_variant(JSONB(), "postgresql")

Id = String(40)
Micros = BigInteger
Nanos = BigInteger

organizations = Table(
    "organizations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", Micros, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(24), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scope", String(16), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("revoked_at", Micros),
)

#: Dashboard sign-ins. The cookie holds a random token; only its SHA-256 is stored.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("key_id", Id, ForeignKey("api_keys.id"), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("expires_at", Micros, nullable=False),
    Column("revoked_at", Micros),
    Index("ix_sessions_key_id", "key_id"),
    Index("ix_sessions_expires_at", "expires_at"),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("external_id", String(256), nullable=False),
    Column("name", String(256)),
    Column("email", String(320)),
    Column("currency", String(3), nullable=False),
    Column("tracking_mode", String(16), nullable=False),
    Column("metadata", Json, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    Column("archived_at", Micros),
    UniqueConstraint("org_id", "external_id"),
    Index(None, "org_id", "id"),
)

agents = Table(
    "agents",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("external_id", String(256), nullable=False),
    Column("name", String(256)),
    Column("description", Text),
    Column("tracking_mode", String(16), nullable=False),
    Column("metadata", Json, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    Column("archived_at", Micros),
    UniqueConstraint("org_id", "external_id"),
    Index(None, "org_id", "id"),
)

signals = Table(
    "signals",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("customer_id", Id, nullable=False),
    Column("agent_id", Id),
    Column("event_name", String(256), nullable=False),
    Column("ts", Micros, nullable=False),
    Column("data", Json, nullable=False),
    Column("idempotency_key", String(256), nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("trace_id", String(32)),
    Column("cost_tracing", Boolean, nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", Micros, nullable=False),
    UniqueConstraint("org_id", "idempotency_key"),
    Index(None, "org_id", "trace_id"),
    Index(None, "org_id", "ts"),
)

#: The predicates of the costs' partial key indexes, written as literals in the queries that
#: must use them (a planner matches a partial index only against a constant).
OTLP = "source = 'otlp'"
NOT_OTLP = "source != 'otlp'"


def _partial(name: str, columns: tuple[str, ...], where: str, *, unique: bool = False) -> Index:
    """An index holding only the rows where ``where`` holds, on both stores."""
    predicate = text(where)
    return Index(name, *columns, unique=unique, sqlite_where=predicate, postgresql_where=predicate)


costs = Table(
    "costs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("customer_id", Id),
    Column("agent_id", Id),
    # The cost-tracing signal this cost is attributed to (earliest of its trace), if any.
    Column("signal_id", Id),
    Column("trace_id", String(32)),
    Column("span_id", String(16)),
    Column("response_id", String(256)),
    Column("provider", String(64)),
    Column("model", String(256)),
    Column("operation", String(64)),
    Column("usage", Json),
    Column("amount_nanos", Nanos),
    Column("currency", String(3), nullable=False),
    # provided | catalog | override | unpriced
    Column("priced_by", String(16), nullable=False),
    Column("price_ref", String(256)),
    Column("unpriced_reason", String(256)),
    Column("ts", Micros, nullable=False),
    Column("idempotency_key", String(256), nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", Micros, nullable=False),
    # The request context it was priced with (re-pricing applies it again); None: standard.
    Column("price_context", Json),
    # Keys and traces (migration 0008). A cost received over OTLP has a key that names its
    # trace (``otlp:{trace_id}:…``): one index keeps it unique and finds it by trace. The
    # other costs have a unique key index and a trace index. So an OTLP cost, nearly every
    # cost of a busy store, is inserted at a random place of one B-tree instead of two.
    _partial("uq_costs_otlp", ("org_id", "trace_id", "idempotency_key"), OTLP, unique=True),
    _partial("uq_costs_key", ("org_id", "idempotency_key"), NOT_OTLP, unique=True),
    _partial("ix_costs_traced", ("org_id", "trace_id"), NOT_OTLP),
    Index(None, "org_id", "ts"),
    # Partial (see migration 0006): only the rows looked up this way pay for the index.
    _partial("ix_costs_unpriced", ("org_id", "ts"), "priced_by = 'unpriced'"),
    _partial("ix_costs_attributed", ("org_id", "signal_id"), "signal_id IS NOT NULL"),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("customer_id", Id),
    Column("type", String(256), nullable=False),
    Column("ts", Micros, nullable=False),
    Column("data", Json, nullable=False),
    Column("idempotency_key", String(256), nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("created_at", Micros, nullable=False),
    UniqueConstraint("org_id", "idempotency_key"),
    Index(None, "org_id", "type", "ts"),
)

spans = Table(
    "spans",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("parent_span_id", String(16)),
    Column("name", String(512), nullable=False),
    Column("kind", Integer, nullable=False),
    Column("start_us", Micros, nullable=False),
    Column("end_us", Micros, nullable=False),
    Column("attributes", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Micros, nullable=False),
)

# Hourly rollups maintained at ingest (same transaction as the facts), so reports read a
# number of rows that grows with time × dimensions, not with raw records. Absent dimensions
# are stored as "" so that the composite primary key can serve as the upsert target.
cost_rollups = Table(
    "cost_rollups",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("bucket", Micros, primary_key=True),
    Column("customer_id", Id, primary_key=True),
    Column("agent_id", Id, primary_key=True),
    Column("event_name", String(256), primary_key=True),
    Column("provider", String(64), primary_key=True),
    Column("model", String(256), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("amount_nanos", Nanos, nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("unpriced", BigInteger, nullable=False),
)

# Each organization's costs per currency, all time (migration 0011): kept with the rollups
# and never past 2⁶³−1 nano-units, so that every rollup and every sum of them a report takes
# is an exact 64-bit integer on both stores (see ``margin.store.rollups``).
cost_totals = Table(
    "cost_totals",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("amount_nanos", Nanos, nullable=False),
)

signal_rollups = Table(
    "signal_rollups",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("bucket", Micros, primary_key=True),
    Column("customer_id", Id, primary_key=True),
    Column("agent_id", Id, primary_key=True),
    Column("event_name", String(256), primary_key=True),
    Column("signals", BigInteger, nullable=False),
)

# Tenant price overrides (negotiated rates): per org, provider ("*" = any) and model glob,
# effective [effective_from, effective_to). ``prices`` maps a usage kind to a decimal string.
price_overrides = Table(
    "price_overrides",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("model_pattern", String(256), nullable=False),
    Column("prices", Json, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("effective_from", Micros, nullable=False),
    Column("effective_to", Micros),
    Column("note", String(512)),
    Column("created_at", Micros, nullable=False),
    Index(None, "org_id", "provider"),
)

# -- billing (issue #5): meters, plans, orders, invoices ------------------------------------

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

# Daily copies of the hourly rollups (bucket = the UTC day's start), kept in step at ingest
# (``margin.reports.daily``), so a 30-day report reads 30 rows per dimension combination
# instead of 720; reports read hours only at the period's ragged edges.
cost_rollups_daily = Table(
    "cost_rollups_daily",
    metadata,
    *(
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in cost_rollups.c
    ),
)

signal_rollups_daily = Table(
    "signal_rollups_daily",
    metadata,
    *(
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in signal_rollups.c
    ),
)

# The history of deliberate re-pricing (``margin costs reprice``): a cost's amount is changed
# in place so that reports stay cheap, and the amount it had is kept here.
cost_repricings = Table(
    "cost_repricings",
    metadata,
    Column("id", Id, primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("cost_id", Id, nullable=False),
    Column("old_amount_nanos", Nanos),
    Column("old_currency", String(3), nullable=False),
    Column("old_priced_by", String(16), nullable=False),
    Column("old_price_ref", String(256)),
    Column("new_amount_nanos", Nanos),
    Column("new_currency", String(3), nullable=False),
    Column("new_priced_by", String(16), nullable=False),
    Column("new_price_ref", String(256)),
    Column("repriced_at", Micros, nullable=False),
    Index(None, "org_id", "cost_id"),
)

# -- currencies (migration 0010): organization settings and exchange rates ------------------

# One row per organization once it has changed a setting (absent: the defaults). The
# organization's display name is ``organizations.name``.
organization_settings = Table(
    "organization_settings",
    metadata,
    Column("org_id", Id, ForeignKey("organizations.id"), primary_key=True),
    Column("reporting_currency", String(3), nullable=False),
    Column("seller_legal_name", String(200)),
    Column("seller_address", Json),  # a list of address lines
    Column("seller_email", String(320)),
    Column("seller_tax_id", String(64)),
    Column("updated_at", Micros, nullable=False),
)

# One unit of ``base`` buys ``rate`` units of ``quote`` on ``day`` (the UTC midnight of the
# rate's date). ``rate`` is an exact decimal string: SQLite has no exact decimal type.
exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("org_id", Id, ForeignKey("organizations.id"), primary_key=True),
    Column("base", String(3), primary_key=True),
    Column("quote", String(3), primary_key=True),
    Column("day", Micros, primary_key=True),
    Column("rate", String(48), nullable=False),
    Column("source", String(64), nullable=False),
    Column("created_at", Micros, nullable=False),
    Index(None, "org_id", "day"),
)

# -- compatibility layers (margin.compat, migration 0012) -----------------------------------

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
from margin.store import schema_party_mapping as schema_party_mapping  # noqa: E402
