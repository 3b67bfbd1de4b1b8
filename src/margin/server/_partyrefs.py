"""The customers and agents a batch's items name, resolved to their ids inside the write
transaction (unknown external ids are created, customers only when the settings allow)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, select

from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.schema import customers
from margin.store.schema_control import customer_units

__all__ = ["PartyRefs"]

#: What names no party (a reference absent, or empty).
_UNSET = (None, "")

#: (customer id, agent id, problem as (field, detail) or None) of an item.
Resolved = tuple[str | None, str | None, tuple[str, str] | None]


class PartyRefs:
    """Customer and agent ids for a batch's references.

    Id references are checked before any party is created, so an item refused for a bad
    reference never creates a customer or agent as a side effect."""

    def __init__(
        self, conn: Connection, org_id: str, items: Sequence[Any], create_customers: bool
    ) -> None:
        # One set per reference, each filled at C speed: a batch holds thousands of items,
        # naming a few parties.
        customer_ids: set[str] = set(map(attrgetter("customer_id"), items))
        customers: set[str] = set(map(attrgetter("customer"), items))
        agent_ids, agents, units = (_each(items, name) for name in ("agent_id", "agent", "unit"))
        for found in (customer_ids, customers, agent_ids, agents, units):
            found.difference_update(_UNSET)
        self.customer_ids = CUSTOMERS.existing_ids(conn, org_id, customer_ids)
        self.agent_ids = AGENTS.existing_ids(conn, org_id, agent_ids)
        self.units = _units(conn, org_id, units)
        #: Whether an item names a party by id or a unit: only then can a reference be bad.
        self.checks = bool(customer_ids or agent_ids or units)
        if self.checks:  # parties named by items refused for a bad reference are not created
            sound = [i for i in items if self._id_problem(i) is None]
            customers = {i.customer for i in sound if i.customer}
            agents = {a for i in sound if (a := getattr(i, "agent", None))}
        self.customers = CUSTOMERS.resolve(conn, org_id, customers, create=create_customers)
        self.agents = AGENTS.resolve(conn, org_id, agents, create=True)

    def _id_problem(self, item: Any) -> tuple[str, str] | None:
        if item.customer_id and item.customer_id not in self.customer_ids:
            return "customer_id", f"no customer '{item.customer_id}'"
        agent_id = getattr(item, "agent_id", None)
        if agent_id and agent_id not in self.agent_ids:
            return "agent_id", f"no agent '{agent_id}'"
        unit = getattr(item, "unit", None)
        if unit and self.unit_id(item) is None:
            return "unit", f"the customer has no unit '{unit}'"
        return None

    def unit_id(self, item: Any) -> str | None:
        """The id of the unit the item names within its customer (None: none, or unknown)."""
        unit = getattr(item, "unit", None)
        if not unit:
            return None
        if item.customer_id:
            return self.units.get(("id", item.customer_id, unit))
        return self.units.get(("external", item.customer, unit))

    def resolve(self, item: Any) -> Resolved:
        """The item's customer and agent ids, or the problem with its references (a
        customer external id that is unknown and was not created: field ``customer``)."""
        if self.checks:
            problem = self._id_problem(item)
            if problem:
                return None, None, problem
        customer_id = item.customer_id
        if customer_id is None and item.customer:
            customer_id = self.customers.get(item.customer)
            if customer_id is None:
                return None, None, ("customer", f"no customer with external id '{item.customer}'")
        agent_id = getattr(item, "agent_id", None)
        agent = getattr(item, "agent", None)
        if agent_id is None and agent:
            agent_id = self.agents.get(agent)
        return customer_id, agent_id, None

    def resolve_all(self, items: Sequence[Any]) -> list[Resolved]:
        """``resolve`` of each item."""
        if self.checks:
            return [self.resolve(item) for item in items]
        customers, agents = self.customers, self.agents
        resolved: list[Resolved] = []
        for item in items:  # resolve's steps, without the checks no item needs
            customer_id = item.customer_id
            if customer_id is None and item.customer:
                customer_id = customers.get(item.customer)
                if customer_id is None:
                    resolved.append(self.resolve(item))
                    continue
            agent_id = getattr(item, "agent_id", None)
            if agent_id is None:
                agent = getattr(item, "agent", None)
                if agent:
                    agent_id = agents.get(agent)
            resolved.append((customer_id, agent_id, None))
        return resolved

    def remember(self, org_id: str) -> None:
        """Cache the resolved ids, once the transaction that may have created them committed."""
        CUSTOMERS.remember(org_id, self.customers)
        AGENTS.remember(org_id, self.agents)


def _each(items: Sequence[Any], name: str) -> set[str]:
    """The values of attribute ``name`` of the items (None for an item without one)."""
    absent: Any = None
    found: set[str] = set(map(getattr, items, repeat(name), repeat(absent)))
    return found


def _units(conn: Connection, org_id: str, wanted: set[str]) -> dict[tuple[str, str, str], str]:
    """("id" or "external", customer ref, unit external id) → unit id, for the ``wanted``
    unit external ids. A unit belongs to a customer that exists: an item naming one of a
    customer not yet created names an unknown unit, and creates no customer."""
    if not wanted:
        return {}
    u, c = customer_units, customers
    rows = conn.execute(
        select(u.c.id, u.c.customer_id, u.c.external_id, c.c.external_id)
        .join(c, c.c.id == u.c.customer_id)
        .where(u.c.org_id == org_id, u.c.external_id.in_(sorted(wanted)))
    )
    found: dict[tuple[str, str, str], str] = {}
    for unit_id, customer_id, external_id, customer_external in rows:
        found[("id", customer_id, external_id)] = unit_id
        if customer_external is not None:
            found[("external", customer_external, external_id)] = unit_id
    return found
