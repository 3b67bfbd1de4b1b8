"""A customer's credits: ``/v1/customers/{id}/credits/grants``, ``…/credits/balances`` and
``…/credits/ledger`` (every change of a balance with its cause). Service:
``margin.control.credits``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from margin.control.credits import balances, history, render_balances
from margin.control.grants import GrantIn, create_grant, list_grants, render_grant
from margin.server.routes._control_api import Admin, Reader, customer_id
from margin.server.state import AppState

__all__ = ["router"]

router = APIRouter(tags=["credits"])


@router.post("/v1/customers/{customer}/credits/grants", status_code=201, summary="Grant credits")
def grant(customer: str, body: GrantIn, request: Request, principal: Admin) -> dict[str, Any]:
    state = AppState.of(request)
    with state.db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        return render_grant(create_grant(conn, principal.org_id, cid, body, state.clock()))


@router.get("/v1/customers/{customer}/credits/grants", summary="A customer's grants")
def grants(customer: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        return {"data": [render_grant(g) for g in list_grants(conn, principal.org_id, cid)]}


@router.get("/v1/customers/{customer}/credits/balances", summary="A customer's balances")
def balances_(customer: str, request: Request, principal: Reader) -> dict[str, Any]:
    state = AppState.of(request)
    with state.db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        rows = balances(conn, principal.org_id, cid, state.clock())
    return {"data": render_balances(rows)}


@router.get("/v1/customers/{customer}/credits/ledger", summary="Every change of a balance")
def ledger(
    customer: str,
    request: Request,
    principal: Reader,
    currency: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        return {"data": history(conn, principal.org_id, cid, currency, limit)}
