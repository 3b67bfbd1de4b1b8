"""A customer's credits: ``/v1/customers/{id}/credits/grants``, ``…/credits/balances`` and
``…/credits/ledger`` (every change of a balance with its cause). Each takes ``?unit=`` (a
unit's external id or id), as the entitlement routes do: the unit's grants, balances and
ledger rows. Service: ``margin.control.credits``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from margin.control.credits import balances, history, render_balances
from margin.control.grants import GrantIn, create_grant, list_grants, render_grant
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._control_api import Admin, Reader, UnitRef, customer_id, unit_id
from margin.server.state import AppState

__all__ = ["router"]

router = APIRouter(tags=["credits"], route_class=ExactJsonRoute)


@router.post("/v1/customers/{customer}/credits/grants", status_code=201, summary="Grant credits")
def grant(
    customer: str, body: GrantIn, request: Request, principal: Admin, unit: UnitRef = None
) -> dict[str, Any]:
    """Grant the customer credits; with ``unit``, grant them to that unit: its usage burns
    them before the customer's."""
    state = AppState.of(request)
    with state.db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        uid = unit_id(conn, principal.org_id, cid, unit)
        return render_grant(create_grant(conn, principal.org_id, cid, body, state.clock(), uid))


@router.get("/v1/customers/{customer}/credits/grants", summary="A customer's grants")
def grants(
    customer: str, request: Request, principal: Reader, unit: UnitRef = None
) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        uid = unit_id(conn, principal.org_id, cid, unit)
        found = list_grants(conn, principal.org_id, cid, uid)
        return {"data": [render_grant(g) for g in found]}


@router.get("/v1/customers/{customer}/credits/balances", summary="A customer's balances")
def balances_(
    customer: str, request: Request, principal: Reader, unit: UnitRef = None
) -> dict[str, Any]:
    """The customer's own balances (its grants less the overage it owes), or a unit's (its
    grants)."""
    state = AppState.of(request)
    with state.db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        uid = unit_id(conn, principal.org_id, cid, unit)
        rows = balances(conn, principal.org_id, cid, state.clock(), uid)
    return {"data": render_balances(rows)}


@router.get("/v1/customers/{customer}/credits/ledger", summary="Every change of a balance")
def ledger(
    customer: str,
    request: Request,
    principal: Reader,
    currency: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    unit: UnitRef = None,
) -> dict[str, Any]:
    """Every row of the customer and its units; with ``unit``, the rows naming that unit (its
    grants, and its usage's burns of its grants and of the customer's)."""
    with AppState.of(request).db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        uid = None if unit is None else unit_id(conn, principal.org_id, cid, unit)
        return {"data": history(conn, principal.org_id, cid, currency, limit, uid)}
