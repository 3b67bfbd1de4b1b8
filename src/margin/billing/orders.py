"""Orders: a customer subscribed to a plan over [starts_at, ends_at), with price overrides —
and which order prices a signal. The services here are what the API, the CLI and the demo
call to create, read and end orders.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from sqlalchemy import Connection, select, update

from margin._ids import new_id
from margin._storable import Storable
from margin._time import isoformat, now_micros, parse_bound
from margin.billing.errors import BillingError
from margin.billing.overrides import effective_charges, normalise_overrides
from margin.billing.plans import get_plan
from margin.store.directory import CUSTOMERS
from margin.store.schema import customers, orders, plans

__all__ = [
    "OrderEnd",
    "OrderIn",
    "active",
    "create_order",
    "end_order",
    "get_order",
    "list_orders",
    "load_orders",
    "outcome_charge",
    "outcome_price",
    "render_order",
]


class OrderIn(Storable):
    """A customer's subscription to a plan; ``overrides`` replace prices of this order:
    ``{"outcomes": {event_name: price}, "fees": {key: amount}, "usage": {key: {field: v}},
    "minimum": amount}``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # Their numbers are prices, each kept as sent (normalised to a decimal string).
    amounts = frozenset({"overrides"})

    customer: Annotated[str, Field(min_length=1, max_length=256)]
    plan: Annotated[str, Field(min_length=1, max_length=64)]
    starts_at: Annotated[str, Field(description="RFC 3339, or a date (its UTC midnight).")]
    ends_at: Annotated[str | None, Field(description="Exclusive; null: open-ended.")] = None
    overrides: dict[str, Any] = Field(default_factory=dict)


class OrderEnd(Storable):
    """The new end of an order (null reopens it)."""

    model_config = ConfigDict(extra="forbid")

    ends_at: str | None


def _time(text: str, name: str) -> int:
    try:
        return parse_bound(text, name)
    except ValueError as exc:
        raise BillingError(422, str(exc), name) from None


def render_order(row: dict[str, Any]) -> dict[str, Any]:
    """The API shape of an order (as ``load_orders`` returns it)."""
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "plan_id": row["plan_id"],
        "plan": row.get("plan_key"),
        "starts_at": isoformat(row["starts_at"]),
        "ends_at": isoformat(row["ends_at"]) if row["ends_at"] is not None else None,
        "overrides": row["overrides"],
        "charges": row.get("charges"),
        "created_at": isoformat(row["created_at"]),
    }


def load_orders(
    conn: Connection, org_id: str, customer_id: str | None = None, *, order_id: str | None = None
) -> list[dict[str, Any]]:
    """Orders of an organization (or one customer) joined with their plan, oldest first.

    Each item holds the order's columns plus ``plan`` (the plan row), ``plan_key``,
    ``charges`` (the plan's charges with the order's overrides) and ``customer_mode`` (the
    customer's tracking mode).
    """
    stmt = (
        select(
            orders,
            plans.c.key.label("plan_key"),
            customers.c.tracking_mode.label("customer_mode"),
        )
        .join(plans, plans.c.id == orders.c.plan_id)
        .join(customers, customers.c.id == orders.c.customer_id)
        .where(orders.c.org_id == org_id)
    )
    if customer_id is not None:
        stmt = stmt.where(orders.c.customer_id == customer_id)
    if order_id is not None:
        stmt = stmt.where(orders.c.id == order_id)
    rows = [dict(r._mapping) for r in conn.execute(stmt.order_by(orders.c.created_at, orders.c.id))]
    plan_rows = (
        {
            r.id: dict(r._mapping)
            for r in conn.execute(select(plans).where(plans.c.id.in_({r["plan_id"] for r in rows})))
        }
        if rows
        else {}
    )
    for row in rows:
        row["plan"] = plan_rows[row["plan_id"]]
        row["charges"] = effective_charges(row["plan"], row)
    return rows


def create_order(
    conn: Connection, org_id: str, spec: OrderIn, *, now: int | None = None
) -> dict[str, Any]:
    """Store an order; raises ``BillingError`` naming the field at fault."""
    starts = _time(spec.starts_at, "starts_at")
    ends = _time(spec.ends_at, "ends_at") if spec.ends_at is not None else None
    if ends is not None and ends <= starts:
        raise BillingError(422, "ends_at: must be after starts_at", "ends_at")
    plan = get_plan(conn, org_id, spec.plan)
    assert plan is not None
    overrides = normalise_overrides(plan["charges"], spec.overrides)
    found = CUSTOMERS.resolve(conn, org_id, [spec.customer], create=False)
    customer_id = found.get(spec.customer)
    if customer_id is None:
        if not CUSTOMERS.existing_ids(conn, org_id, [spec.customer]):
            raise BillingError(422, f"customer: no customer '{spec.customer}'", "customer")
        customer_id = spec.customer
    row = {
        "id": new_id("ord"),
        "org_id": org_id,
        "customer_id": customer_id,
        "plan_id": plan["id"],
        "starts_at": starts,
        "ends_at": ends,
        "overrides": overrides,
        "created_at": now_micros() if now is None else now,
    }
    conn.execute(orders.insert().values(**row))
    return get_order(conn, org_id, row["id"])


def get_order(conn: Connection, org_id: str, order_id: str) -> dict[str, Any]:
    """One order with its plan and charges; raises ``BillingError`` (404) when missing."""
    for row in load_orders(conn, org_id, order_id=order_id):
        return row
    raise BillingError(404, f"no order '{order_id}'", "id")


def list_orders(conn: Connection, org_id: str, customer: str | None = None) -> list[dict[str, Any]]:
    """Orders of the organization, or of one customer (external id or id)."""
    customer_id = None
    if customer is not None:
        found = CUSTOMERS.resolve(conn, org_id, [customer], create=False)
        customer_id = found.get(customer, customer)
    return load_orders(conn, org_id, customer_id)


def end_order(conn: Connection, org_id: str, order_id: str, spec: OrderEnd) -> dict[str, Any]:
    """End an order at ``spec.ends_at`` (or reopen it with null)."""
    ends = _time(spec.ends_at, "ends_at") if spec.ends_at is not None else None
    current = get_order(conn, org_id, order_id)
    if ends is not None and ends <= current["starts_at"]:
        raise BillingError(422, "ends_at: must be after starts_at", "ends_at")
    conn.execute(
        update(orders)
        .where(orders.c.org_id == org_id, orders.c.id == order_id)
        .values(ends_at=ends)
    )
    return get_order(conn, org_id, order_id)


def active(order: dict[str, Any], ts_us: int) -> bool:
    """Whether an order is in force at ``ts_us``."""
    return bool(
        order["starts_at"] <= ts_us and (order["ends_at"] is None or ts_us < order["ends_at"])
    )


def outcome_price(
    candidates: list[dict[str, Any]],
    customer_id: str,
    agent_id: str | None,
    event_name: str,
    ts_us: int,
) -> tuple[dict[str, Any], Decimal] | None:
    """The first order in force for the customer whose plan (on this agent, or on any agent)
    prices ``event_name``, and that money price (an outcome paid in credits: its overage, or
    0); None when the signal is not billable."""
    found = outcome_charge(candidates, customer_id, agent_id, event_name, ts_us)
    if found is None:
        return None
    order, outcome = found
    return order, Decimal(outcome.get("price") or outcome.get("overage") or 0)


def outcome_charge(
    candidates: list[dict[str, Any]],
    customer_id: str,
    agent_id: str | None,
    event_name: str,
    ts_us: int,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The first order in force for the customer whose plan (on this agent, or on any agent)
    prices ``event_name``, and that outcome charge; None when the signal is not billable."""
    for order in candidates:
        if order["customer_id"] != customer_id or not active(order, ts_us):
            continue
        plan_agent = order["plan"]["agent_id"]
        if plan_agent is not None and plan_agent != (agent_id or None):
            continue
        for outcome in order["charges"]["outcomes"]:
            if outcome["event_name"] == event_name:
                return order, outcome
    return None
