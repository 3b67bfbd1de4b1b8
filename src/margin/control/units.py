"""Customer units: a customer's sub-accounts (Paid's customer units, e.g. a team or a
workspace of the customer), each named by an external id unique within its customer.

A unit is created once by its external id (creating it again with the same external id
answers the unit, updated), listed, read and removed (with the entitlements given to it).
A unit may have entitlements of its own (a check that names a unit sees them first, then
the customer's) and credit grants of its own (``margin.control.credits``). A unit that still
holds credits is not removed: its grants would be left with no one to spend them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, delete, select, update

from margin._ids import new_id
from margin._time import isoformat
from margin.control._rows import insert_ignore
from margin.control.errors import ControlError
from margin.store.schema_control import credit_grants, customer_units, entitlements

__all__ = ["UnitIn", "get_unit", "list_units", "remove_unit", "render_unit", "upsert_unit"]

u = customer_units


class UnitIn(BaseModel):
    """A unit as the API accepts it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(max_length=256)] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def upsert_unit(
    conn: Connection, org_id: str, customer_id: str, body: UnitIn, now: int
) -> tuple[dict[str, Any], bool]:
    """Create the customer's unit of that external id, or update its name and metadata;
    the unit, and whether this call created it."""
    row = {
        "id": new_id("cun"),
        "org_id": org_id,
        "customer_id": customer_id,
        "external_id": body.external_id,
        "name": body.name,
        "metadata": body.metadata,
        "created_at": now,
    }
    if insert_ignore(conn, u, row):
        return row, True
    conn.execute(
        update(u)
        .where(*_where(org_id, customer_id, body.external_id))
        .values(name=body.name, metadata=body.metadata)
    )
    return get_unit(conn, org_id, customer_id, body.external_id), False


def _where(org_id: str, customer_id: str, ref: str) -> list[Any]:
    return [
        u.c.org_id == org_id,
        u.c.customer_id == customer_id,
        (u.c.external_id == ref) | (u.c.id == ref),
    ]


def get_unit(conn: Connection, org_id: str, customer_id: str, ref: str) -> dict[str, Any]:
    """The customer's unit by external id or id; 404 naming ``unit`` otherwise."""
    found = conn.execute(
        select(u).where(*_where(org_id, customer_id, ref)).order_by(u.c.id).limit(1)
    ).first()
    if found is None:
        raise ControlError(404, f"unit: the customer has no unit '{ref}'", "unit")
    return dict(found._mapping)


def list_units(conn: Connection, org_id: str, customer_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(u)
        .where(u.c.org_id == org_id, u.c.customer_id == customer_id)
        .order_by(u.c.external_id)
    )
    return [dict(r._mapping) for r in rows]


def remove_unit(conn: Connection, org_id: str, customer_id: str, ref: str) -> None:
    """Remove the unit and the entitlements given to it; 409 naming ``unit`` while a grant
    of it has credits left (its facts and ledger rows stay, naming the removed unit's id)."""
    unit = get_unit(conn, org_id, customer_id, ref)
    g = credit_grants
    holding = conn.execute(
        select(g.c.id)
        .where(g.c.org_id == org_id, g.c.customer_id == customer_id, g.c.unit_id == unit["id"])
        .where(g.c.closed_at.is_(None))
        .where(g.c.remaining_nanos > 0)
        .limit(1)
    ).first()
    if holding is not None:
        detail = f"unit: '{ref}' holds credits (grant {holding.id}); let its grants run out first"
        raise ControlError(409, detail, "unit")
    e = entitlements
    conn.execute(delete(e).where(e.c.org_id == org_id, e.c.unit_id == unit["id"]))
    conn.execute(delete(u).where(u.c.id == unit["id"]))


def render_unit(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "external_id": row["external_id"],
        "name": row["name"],
        "metadata": row["metadata"],
        "created_at": isoformat(row["created_at"]),
    }
