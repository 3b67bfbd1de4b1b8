"""The relational schema (SQLAlchemy Core). Alembic migrations create it; code reads it.

Conventions: ids are prefixed text; times are integer microseconds since the epoch (UTC);
money is integer nano-units (10⁻⁹ of the currency unit) beside an ISO 4217 currency code;
free-form payloads are JSON. Raw facts (signals, costs, events, spans) are append-only.
On PostgreSQL, signals, costs and events are partitioned by month of ``ts``: their primary
key is (id, ts) and their unique keys below are kept in ``fact_keys`` instead (migration
0017, ``margin.store.partitions``); SQLite has the tables as declared here.
The tables of later areas (billing, currencies, compatibility layers) live in their own
``schema_*`` modules on the same ``metadata`` and are named here too.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from margin.store import schema_control, schema_party_mapping  # noqa: F401  (its tables join ``metadata``)
from margin.store._base import Id, Json, Micros, Nanos, metadata
from margin.store.archive import fact_archives
from margin.store.fact_keys import fact_keys
from margin.store.schema_billing import invoice_counters, invoices, meters, orders, plans
from margin.store.schema_compat import compat_records, paid_scope_costs, paid_scope_signals
from margin.store.schema_fx import exchange_rates, organization_settings

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
    "fact_archives",
    "fact_keys",
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


def _partial(name: str, columns: tuple[str, ...], where: str, *, unique: bool = False) -> Index:
    """An index holding only the rows where ``where`` holds, on both stores."""
    predicate = text(where)
    return Index(name, *columns, unique=unique, sqlite_where=predicate, postgresql_where=predicate)


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
    # The customer unit the signal is attributed to (migration 0018); None: the customer.
    Column("unit_id", Id),
    UniqueConstraint("org_id", "idempotency_key"),
    Index(None, "org_id", "trace_id"),
    Index(None, "org_id", "ts", "id"),  # exports read in (time, id) chunks (migration 0020)
    _partial("ix_signals_unit", ("org_id", "unit_id", "ts"), "unit_id IS NOT NULL"),
)

#: The predicates of the costs' partial key indexes, written as literals in the queries that
#: must use them (a planner matches a partial index only against a constant).
OTLP = "source = 'otlp'"
NOT_OTLP = "source != 'otlp'"


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
    Index(None, "org_id", "ts", "id"),  # exports read in (time, id) chunks (migration 0020)
    # Partial (see migration 0006): only the rows looked up this way pay for the index.
    _partial("ix_costs_unpriced", ("org_id", "ts"), "priced_by = 'unpriced'"),
    _partial("ix_costs_attributed", ("org_id", "signal_id"), "signal_id IS NOT NULL"),
    # The customer unit the cost is attributed to (migration 0019); None: the customer.
    Column("unit_id", Id),
    _partial("ix_costs_unit", ("org_id", "unit_id", "ts"), "unit_id IS NOT NULL"),
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
    # The customer unit the event is attributed to (migration 0018); None: the customer.
    Column("unit_id", Id),
    UniqueConstraint("org_id", "idempotency_key"),
    Index(None, "org_id", "type", "ts"),
    Index(None, "org_id", "ts", "id"),  # exports read in (time, id) chunks (migration 0020)
    _partial("ix_events_unit", ("org_id", "unit_id", "ts"), "unit_id IS NOT NULL"),
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
