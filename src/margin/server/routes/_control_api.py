"""What the control routes share: the customer a path names (by id or external id), and the
problem answer of a refused control request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy import Connection

from margin.control.errors import ControlError
from margin.server.auth import require
from margin.server.problems import Problem
from margin.store.directory import CUSTOMERS
from margin.store.keys import Principal

__all__ = ["Admin", "Reader", "customer_id", "problem"]

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


def problem(exc: ControlError) -> Problem:
    return Problem(exc.status, exc.detail, field=exc.field)


def customer_id(conn: Connection, org_id: str, ref: str, *, external: bool = False) -> str:
    """The id of the customer ``ref`` names (an id, or an external id); 404 otherwise."""
    if external:
        row = CUSTOMERS.get_by_external(conn, org_id, ref)
    else:
        row = CUSTOMERS.get(conn, org_id, ref)
    if row is None:
        raise Problem(404, f"no customer '{ref}'", field="customer")
    return str(row["id"])
