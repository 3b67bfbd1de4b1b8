"""A customer's units (sub-accounts): ``/v1/customers/{id}/units``, ``…/units/{unit}`` (the
unit's external id or id) and its cap ``…/units/{unit}/cap``. Services:
``margin.control.units`` and ``margin.control.unit_caps``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from margin._time import isoformat
from margin.control.errors import ControlError
from margin.control.quantities import render_quantity
from margin.control.unit_caps import CapIn, cap_state, end_cap, set_cap
from margin.control.units import (
    UnitIn,
    UnitPatch,
    get_unit,
    list_units,
    remove_unit,
    render_unit,
    update_unit,
    upsert_unit,
)
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._control_api import Admin, Reader, customer_id
from margin.server.state import AppState

__all__ = ["router"]

router = APIRouter(tags=["entitlements"], route_class=ExactJsonRoute)


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


@router.patch("/v1/customers/{customer}/units/{unit}", summary="Change a customer unit")
def patch(
    customer: str, unit: str, body: UnitPatch, request: Request, principal: Admin
) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        return render_unit(update_unit(conn, principal.org_id, cid, unit, body))


def _cap(conn: Any, org_id: str, cid: str, row: dict[str, Any], now: int) -> dict[str, Any]:
    """The unit with its cap's current period (``period``: null while it is scheduled)."""
    out = render_unit(row)
    state = cap_state(conn, org_id, cid, row["id"], row["cap"], now)
    out["cap"]["period"] = state and {
        "start": isoformat(state["start"]),
        "end": isoformat(state["end"]),
        "used": render_quantity(state["used_nanos"]),
        "remaining": render_quantity(state["amount_nanos"] - state["used_nanos"]),
    }
    return out


@router.put("/v1/customers/{customer}/units/{unit}/cap", summary="Set (replace) a unit's cap")
def put_cap(
    customer: str, unit: str, body: CapIn, request: Request, principal: Admin
) -> dict[str, Any]:
    state = AppState.of(request)
    now = state.clock()
    with state.db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        return _cap(
            conn, principal.org_id, cid, set_cap(conn, principal.org_id, cid, unit, body, now), now
        )


@router.get(
    "/v1/customers/{customer}/units/{unit}/cap",
    summary="A unit with its cap and the cap's current period (404 naming cap: none)",
)
def get_cap(customer: str, unit: str, request: Request, principal: Reader) -> dict[str, Any]:
    state = AppState.of(request)
    with state.db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        row = get_unit(conn, principal.org_id, cid, unit)
        if row["cap"] is None:
            raise ControlError(404, f"cap: the unit '{unit}' has no cap", "cap")
        return _cap(conn, principal.org_id, cid, row, state.clock())


@router.delete(
    "/v1/customers/{customer}/units/{unit}/cap", status_code=204, summary="Remove a unit's cap"
)
def delete_cap(customer: str, unit: str, request: Request, principal: Admin) -> Response:
    with AppState.of(request).db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        end_cap(conn, principal.org_id, cid, unit)
    return Response(status_code=204)
