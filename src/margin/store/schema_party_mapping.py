"""The table of an organization's party mapping: which span attributes name a trace's
customer and agent (``margin.store.party_mapping``)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Table

from margin.store._base import Id, Json, Micros, metadata

__all__ = ["party_mappings"]

# An organization without a row has the defaults (no customer keys; the agent from
# ``service.name``). The key lists are JSON arrays of attribute names, best first.
party_mappings = Table(
    "party_mappings",
    metadata,
    Column("org_id", Id, ForeignKey("organizations.id"), primary_key=True),
    Column("customer_keys", Json, nullable=False),
    Column("agent_keys", Json, nullable=False),
    Column("updated_at", Micros, nullable=False),
)
