"""Credit grants as users make them: validated, dated in a time zone, and listed."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import Connection, select

from margin._calendar import Window, load_zone, window_end, window_start
from margin._payload import MAX_INT
from margin._storable import Quantity, Storable
from margin._time import isoformat, parse_bound
from margin.control.credits import insert_grant
from margin.control.errors import ControlError
from margin.control.features import CREDIT_CURRENCY
from margin.control.quantities import check_zone, parse_quantity, render_quantity
from margin.store.schema_control import credit_grants

__all__ = ["GrantIn", "create_grant", "list_grants", "render_grant"]

g = credit_grants


class GrantIn(Storable):
    currency: Annotated[str, Field(pattern=CREDIT_CURRENCY)]
    amount: Quantity
    priority: Annotated[int, Field(ge=0, le=1000)] = 10
    effective_at: str | None = None
    expires_at: str | None = None
    recurrence: Window | None = None
    rollover_max: Quantity | None = None
    time_zone: Annotated[str, Field(max_length=64)] = "UTC"
    description: Annotated[str, Field(max_length=256)] | None = None


def create_grant(
    conn: Connection, org_id: str, customer_id: str, body: GrantIn, now: int, unit_id: str = ""
) -> dict[str, Any]:
    """Grant the customer (or its unit ``unit_id``) credits."""
    amount = parse_quantity(body.amount, "amount")
    rollover = (
        None if body.rollover_max is None else parse_quantity(body.rollover_max, "rollover_max")
    )
    if body.recurrence is not None:
        _check_renewable(amount, rollover)
    zone = check_zone(body.time_zone)
    effective = _bound(body.effective_at, "effective_at", now)
    expires = None if body.expires_at is None else _bound(body.expires_at, "expires_at", now)
    if body.recurrence is not None and expires is None:
        expires = window_end(
            window_start(effective, body.recurrence, load_zone(zone)),
            body.recurrence,
            load_zone(zone),
        )
    if expires is not None and expires <= effective:
        raise ControlError(422, "expires_at: must be after effective_at", "expires_at")
    return insert_grant(
        conn,
        org_id,
        customer_id,
        body.currency,
        amount,
        now,
        {
            "priority": body.priority,
            "effective_at": effective,
            "expires_at": expires,
            "rollover_max_nanos": rollover,
            "recurrence": body.recurrence,
            "time_zone": zone,
            "description": body.description,
            "unit_id": unit_id,
        },
    )


def _check_renewable(amount: int, rollover: int | None) -> None:
    """A renewal holds its amount plus what it carries: both must fit one 64-bit row."""
    if amount + (rollover or 0) > MAX_INT:
        field = "rollover_max" if rollover else "amount"
        detail = f"{field}: amount plus rollover_max must not pass {render_quantity(MAX_INT)}"
        raise ControlError(422, detail, field)


def _bound(value: str | None, field: str, now: int) -> int:
    if value is None:
        return now
    try:
        return parse_bound(value, field)
    except ValueError as exc:
        raise ControlError(422, str(exc), field) from None


def list_grants(
    conn: Connection, org_id: str, customer_id: str, unit_id: str = ""
) -> list[dict[str, Any]]:
    """The customer's own grants, or those given to its unit ``unit_id``."""
    rows = conn.execute(
        select(g)
        .where(g.c.org_id == org_id, g.c.customer_id == customer_id, g.c.unit_id == unit_id)
        .order_by(g.c.effective_at, g.c.id)
    )
    return [dict(r._mapping) for r in rows]


def render_grant(row: dict[str, Any]) -> dict[str, Any]:
    def at(v: int | None) -> str | None:
        return None if v is None else isoformat(v)

    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "unit_id": row["unit_id"] or None,
        "currency": row["currency"],
        "amount": render_quantity(row["amount_nanos"]),
        "remaining": render_quantity(row["remaining_nanos"]),
        "priority": row["priority"],
        "effective_at": at(row["effective_at"]),
        "expires_at": at(row["expires_at"]),
        "recurrence": row["recurrence"],
        "rollover_max": render_quantity(row["rollover_max_nanos"]),
        "time_zone": row["time_zone"],
        "parent_id": row["parent_id"],
        "description": row["description"],
        "closed_at": at(row["closed_at"]),
    }
