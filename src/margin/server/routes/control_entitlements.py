"""``/v1/features`` and a customer's entitlements, with the check an agent makes before
work: ``GET /v1/customers/{id}/entitlements/{feature}`` (or ``…/external/{external_id}/…``).
Services: ``margin.control.features`` and ``margin.control.entitlements``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from margin.control.entitlements import (
    EntitlementIn,
    check,
    list_entitlements,
    remove_entitlement,
    render_entitlement,
    set_entitlement,
)
from margin.control.features import FeatureIn, create_feature, get_feature, list_features
from margin.control.features import render_feature as _feature
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._control_api import Admin, Reader, UnitRef, customer_id
from margin.server.routes._control_api import unit_id as _unit
from margin.server.routes.control_units import router as units_router
from margin.server.state import AppState

__all__ = ["router"]

router = APIRouter(tags=["entitlements"], route_class=ExactJsonRoute)


@router.post("/v1/features", status_code=201, summary="Create a feature")
def create(body: FeatureIn, request: Request, principal: Admin) -> dict[str, Any]:
    state = AppState.of(request)
    with state.db.write() as conn:
        return _feature(create_feature(conn, principal.org_id, body, state.clock()))


@router.get("/v1/features", summary="List features")
def list_(request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return {"data": [_feature(r) for r in list_features(conn, principal.org_id)]}


@router.get("/v1/features/{key}", summary="Get a feature")
def get(key: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return _feature(get_feature(conn, principal.org_id, key))


@router.put(
    "/v1/customers/{customer}/entitlements",
    summary="Give a customer an entitlement (replaces one to the same feature)",
)
def put(
    customer: str, body: EntitlementIn, request: Request, principal: Admin, unit: UnitRef = None
) -> dict[str, Any]:
    state = AppState.of(request)
    with state.db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        uid = _unit(conn, principal.org_id, cid, unit)
        row = set_entitlement(conn, principal.org_id, cid, body, state.clock(), uid)
        return render_entitlement(row)


@router.get("/v1/customers/{customer}/entitlements", summary="A customer's entitlements")
def entitlements(
    customer: str, request: Request, principal: Reader, unit: UnitRef = None
) -> dict[str, Any]:
    """The customer's own entitlements and those its plans grant now (``source``); with
    ``unit``, the unit's own first."""
    state = AppState.of(request)
    with state.db.read() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        uid = _unit(conn, principal.org_id, cid, unit)
        found = list_entitlements(conn, principal.org_id, cid, state.clock(), uid)
        return {"data": [render_entitlement(r) for r in found]}


@router.delete(
    "/v1/customers/{customer}/entitlements/{feature}",
    status_code=204,
    summary="Remove a customer's entitlement",
)
def remove(
    customer: str, feature: str, request: Request, principal: Admin, unit: UnitRef = None
) -> Response:
    with AppState.of(request).db.write() as conn:
        cid = customer_id(conn, principal.org_id, customer)
        uid = _unit(conn, principal.org_id, cid, unit)
        remove_entitlement(conn, principal.org_id, cid, feature, uid)
    return Response(status_code=204)


def _check(
    request: Request, org_id: str, ref: str, feature: str, external: bool, unit: str | None
) -> dict[str, Any]:
    state = AppState.of(request)
    with state.db.read() as conn:
        cid = customer_id(conn, org_id, ref, external=external)
        uid = _unit(conn, org_id, cid, unit)
        return check(conn, org_id, cid, feature, state.clock(), uid)


@router.get(
    "/v1/customers/{customer}/entitlements/{feature}",
    summary="Check a customer's access to a feature now",
)
def check_by_id(
    customer: str, feature: str, request: Request, principal: Reader, unit: UnitRef = None
) -> dict[str, Any]:
    """``{has_access, balance, usage, limit, overage, resets_at, …}``, current to the last
    committed ingest; with ``unit``, the unit's own entitlement, else the customer's."""
    return _check(request, principal.org_id, customer, feature, False, unit)


@router.get(
    "/v1/customers/external/{external_id}/entitlements/{feature}",
    summary="Check access by the customer's external id",
)
def check_by_external(
    external_id: str, feature: str, request: Request, principal: Reader, unit: UnitRef = None
) -> dict[str, Any]:
    return _check(request, principal.org_id, external_id, feature, True, unit)


# A customer's units are served beside its entitlements, from this module's router.
router.include_router(units_router)
