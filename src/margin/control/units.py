"""Customer units: a customer's sub-accounts (Paid's customer units, e.g. a team or a
workspace of the customer), each named by an external id unique within its customer.

A unit is created once by its external id (creating it again with the same external id
answers the unit, updated), listed, read, changed (``update_unit``: only the fields sent)
and removed (with the entitlements given to it and its cap).
A unit may have entitlements of its own (a check that names a unit sees them first, then
the customer's) and credit grants of its own (``margin.control.credits``). A unit that still
holds credits is not removed: its grants would be left with no one to spend them.

A unit may sit under a parent unit of the same customer (a tree at most ``MAX_DEPTH``
levels deep; a unit never under itself), carry a free type label (``external_type``) and a
cap on its spend (``margin.control.unit_caps``). A unit with children is not removed (409
naming ``unit``): detaching them silently would move their spend out from under the caps
of their ancestors, so they are moved or removed first, as Paid requires.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from sqlalchemy import Connection, Select, delete, select, update

from margin._ids import new_id
from margin._storable import Storable
from margin._time import isoformat
from margin.control._rows import insert_ignore
from margin.control.errors import ControlError
from margin.store.schema_control import credit_grants, customer_units, entitlements

__all__ = [
    "MAX_DEPTH",
    "UnitIn",
    "UnitPatch",
    "get_unit",
    "list_units",
    "remove_unit",
    "render_unit",
    "subtree",
    "unit_tree",
    "update_unit",
    "upsert_unit",
]

u = customer_units
_parent = customer_units.alias("parent_unit")
#: Levels of a unit tree (a top unit is level 1): bounds every walk up or down a tree.
MAX_DEPTH = 16

Text = Annotated[str, Field(max_length=256)]
#: What every unit id starts with (``cun_…``).
UNIT_ID_PREFIX = "cun"


class UnitIn(Storable):
    """A unit as the API accepts it (``parent``: the external id or id of its parent)."""

    external_id: Annotated[str, Field(min_length=1, max_length=256)]
    name: Text | None = None
    external_type: Text | None = None
    parent: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("external_id")
    @classmethod
    def _not_an_id(cls, value: str) -> str:
        # Units are found by external id or by id: one shaped like an id would hide it.
        if value.startswith(f"{UNIT_ID_PREFIX}_"):
            raise ValueError(f"must not start with '{UNIT_ID_PREFIX}_' (a unit id's prefix)")
        return value


class UnitPatch(Storable):
    """A change of a unit: only the fields sent change (``parent: null`` makes it a top
    unit; ``metadata`` replaces the unit's)."""

    name: Text | None = None
    external_type: Text | None = None
    parent: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    metadata: dict[str, Any] | None = None


def upsert_unit(
    conn: Connection, org_id: str, customer_id: str, body: UnitIn, now: int
) -> tuple[dict[str, Any], bool]:
    """Create the customer's unit of that external id, or update its name, type, parent and
    metadata; the unit, and whether this call created it."""
    tree = unit_tree(conn, org_id, customer_id)
    old = next((r for r in tree.values() if r["external_id"] == body.external_id), None)
    parent_id = _parent_of(tree, body.parent, old["id"] if old else None)
    row = {
        "id": new_id(UNIT_ID_PREFIX),
        "org_id": org_id,
        "customer_id": customer_id,
        "external_id": body.external_id,
        "name": body.name,
        "external_type": body.external_type,
        "parent_id": parent_id,
        "metadata": body.metadata,
        "created_at": now,
    }
    if insert_ignore(conn, u, row):
        return get_unit(conn, org_id, customer_id, str(row["id"])), True
    values = {k: row[k] for k in ("name", "external_type", "parent_id", "metadata")}
    conn.execute(update(u).where(*_where(org_id, customer_id, body.external_id)).values(**values))
    return get_unit(conn, org_id, customer_id, body.external_id), False


def update_unit(
    conn: Connection, org_id: str, customer_id: str, ref: str, body: UnitPatch
) -> dict[str, Any]:
    """Change the fields ``body`` sets; a new parent moves the unit with its subtree."""
    unit = get_unit(conn, org_id, customer_id, ref)
    sent = body.model_fields_set
    values: dict[str, Any] = {k: getattr(body, k) for k in ("name", "external_type") if k in sent}
    if "metadata" in sent:
        values["metadata"] = body.metadata or {}
    if "parent" in sent:
        tree = unit_tree(conn, org_id, customer_id)
        values["parent_id"] = _parent_of(tree, body.parent, unit["id"])
    if values:
        conn.execute(update(u).where(u.c.id == unit["id"]).values(**values))
    return get_unit(conn, org_id, customer_id, unit["id"])


def unit_tree(conn: Connection, org_id: str, customer_id: str) -> dict[str, dict[str, Any]]:
    """The customer's units by id (a customer has few: trees are checked in memory)."""
    rows = conn.execute(
        select(u.c.id, u.c.external_id, u.c.parent_id, u.c.cap).where(
            u.c.org_id == org_id, u.c.customer_id == customer_id
        )
    )
    return {r.id: dict(r._mapping) for r in rows}


def _parent_of(tree: dict[str, dict[str, Any]], ref: str | None, moving: str | None) -> str | None:
    """The id of the parent ``ref`` names for unit ``moving`` (None: a new unit); 422 for
    no such unit of this customer, 409 for a cycle or a tree deeper than ``MAX_DEPTH``."""
    if ref is None:
        return None
    found = tree.get(ref) or next((r for r in tree.values() if r["external_id"] == ref), None)
    if found is None:
        raise ControlError(422, f"parent: the customer has no unit '{ref}'", "parent")
    chain = ancestors(tree, found["id"])
    if moving is not None and moving in chain:
        raise ControlError(409, f"parent: '{ref}' is the unit or under it", "parent")
    height = _height(tree, moving) if moving is not None else 1
    if len(chain) + height > MAX_DEPTH:
        detail = f"parent: under '{ref}' the tree would be deeper than {MAX_DEPTH} levels"
        raise ControlError(409, detail, "parent")
    return str(found["id"])


def ancestors(tree: dict[str, dict[str, Any]], unit_id: str) -> list[str]:
    """The unit and the units above it, nearest first (a stored cycle cannot loop it)."""
    chain: list[str] = []
    at: str | None = unit_id
    while at is not None and at in tree and at not in chain and len(chain) <= MAX_DEPTH:
        chain.append(at)
        at = tree[at]["parent_id"]
    return chain


def subtree(tree: dict[str, dict[str, Any]], unit_id: str) -> set[str]:
    """The unit and every unit under it."""
    below: dict[str, list[str]] = {}
    for row in tree.values():
        if row["parent_id"] is not None:
            below.setdefault(row["parent_id"], []).append(row["id"])
    found, todo = {unit_id}, [unit_id]
    while todo:
        for child in below.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _height(tree: dict[str, dict[str, Any]], unit_id: str) -> int:
    return max(len(ancestors(tree, s)) for s in subtree(tree, unit_id)) - (
        len(ancestors(tree, unit_id)) - 1
    )


def _where(org_id: str, customer_id: str, ref: str) -> list[Any]:
    return [
        u.c.org_id == org_id,
        u.c.customer_id == customer_id,
        (u.c.external_id == ref) | (u.c.id == ref),
    ]


def _select() -> Select[Any]:
    """Units with their parent's external id (what the API names a parent by)."""
    return select(u, _parent.c.external_id.label("parent_external_id")).outerjoin(
        _parent, _parent.c.id == u.c.parent_id
    )


def get_unit(conn: Connection, org_id: str, customer_id: str, ref: str) -> dict[str, Any]:
    """The customer's unit by external id or id; 404 naming ``unit`` otherwise."""
    found = conn.execute(
        _select().where(*_where(org_id, customer_id, ref)).order_by(u.c.id).limit(1)
    ).first()
    if found is None:
        raise ControlError(404, f"unit: the customer has no unit '{ref}'", "unit")
    return dict(found._mapping)


def list_units(conn: Connection, org_id: str, customer_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        _select()
        .where(u.c.org_id == org_id, u.c.customer_id == customer_id)
        .order_by(u.c.external_id)
    )
    return [dict(r._mapping) for r in rows]


def remove_unit(conn: Connection, org_id: str, customer_id: str, ref: str) -> dict[str, Any]:
    """Remove the unit, the entitlements given to it and its cap; the unit as it was. 409
    naming ``unit`` while a unit sits under it, or a grant of it has credits left (its facts
    and ledger rows stay, naming the removed unit's id)."""
    unit = get_unit(conn, org_id, customer_id, ref)
    child = conn.execute(
        select(u.c.external_id)
        .where(u.c.org_id == org_id, u.c.customer_id == customer_id)
        .where(u.c.parent_id == unit["id"])
        .order_by(u.c.external_id)
        .limit(1)
    ).first()
    if child is not None:
        detail = f"unit: '{ref}' has units under it ('{child.external_id}'); move or remove them"
        raise ControlError(409, detail, "unit")
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
    return unit


def render_unit(row: dict[str, Any]) -> dict[str, Any]:
    cap = row.get("cap")
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "external_id": row["external_id"],
        "name": row["name"],
        "external_type": row.get("external_type"),
        "parent": row.get("parent_external_id"),
        "metadata": row["metadata"],
        "cap": None if cap is None else {**cap, "effective_from": isoformat(cap["effective_from"])},
        "created_at": isoformat(row["created_at"]),
    }
