"""What the control routes share: their keys, and the customer a path names (by id or
external id). A refused request (``ControlError``) is answered by the app's handler."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy import Connection

from margin.control.units import get_unit
from margin.server.auth import require
from margin.server.problems import Problem
from margin.store.directory import CUSTOMERS
from margin.store.keys import Principal

__all__ = ["Admin", "Reader", "UnitRef", "customer_id", "unit_id"]

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]
#: The customer unit a request names (its external id or id); none: the customer itself.
UnitRef = Annotated[str | None, Query(max_length=256, description="A unit of the customer.")]


def customer_id(conn: Connection, org_id: str, ref: str, *, external: bool = False) -> str:
    """The id of the customer ``ref`` names (an id, or an external id); 404 otherwise."""
    if external:
        row = CUSTOMERS.get_by_external(conn, org_id, ref)
    else:
        row = CUSTOMERS.get(conn, org_id, ref)
    if row is None:
        raise Problem(404, f"no customer '{ref}'", field="customer")
    return str(row["id"])


def unit_id(conn: Connection, org_id: str, customer_id: str, unit: str | None) -> str:
    """The id of the customer's unit ``unit`` names ('' for none); 404 naming ``unit``."""
    return "" if unit is None else str(get_unit(conn, org_id, customer_id, unit)["id"])
