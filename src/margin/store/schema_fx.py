"""Currency tables: organization settings (reporting currency, seller) and exchange rates."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from margin.store._base import Id, Json, Micros, metadata

__all__ = ["exchange_rates", "organization_settings"]


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
