"""A customer's units (sub-accounts): ``/v1/customers/{id}/units`` and
``…/units/{unit}`` (the unit's external id or id). Service: ``margin.control.units``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from margin.control.units import (
    UnitIn,
    get_unit,
    list_units,
    remove_unit,
    render_unit,
    upsert_unit,
)
from margin.server.routes._control_api import Admin, Reader, customer_id
from margin.server.state import AppState

__all__ = ["router"]

router = APIRouter(tags=["entitlements"])


@router.post(
    "/v1/customers/{customer}/units",
    status_code=201,
    summary="Create a customer unit (an existing external id answers it, updated, with 200)",
)
def create(
    customer: str, body: UnitIn, request: Request, response: Response, principal: Admin
) -> dict[str, Any]:
    state = AppState.of(request)
    with state.db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        row, created = upsert_unit(conn, principal.org_id, cid, body, state.clock())
    if not created:
        response.status_code = 200
    return render_unit(row)


@router.get("/v1/customers/{customer}/units", summary="A customer's units")
def list_(customer: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        return {"data": [render_unit(r) for r in list_units(conn, principal.org_id, cid)]}


@router.get("/v1/customers/{customer}/units/{unit}", summary="A customer unit")
def get(customer: str, unit: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        return render_unit(get_unit(conn, principal.org_id, cid, unit))


@router.delete(
    "/v1/customers/{customer}/units/{unit}", status_code=204, summary="Remove a customer unit"
)
def remove(customer: str, unit: str, request: Request, principal: Admin) -> Response:
    with AppState.of(request).db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        remove_unit(conn, principal.org_id, cid, unit)
    return Response(status_code=204)
