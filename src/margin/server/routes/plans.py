"""``/v1/plans``: what is sold (outcome prices, fees, usage charges, a minimum). The services
are in ``margin.billing.plans``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from margin.billing.plans import PlanIn, create_plan, get_plan, list_plans, render_plan
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._billing_api import PlanList, PlanOut
from margin.server.state import AppState
from margin.store.keys import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/plans", tags=["plans"], route_class=ExactJsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


@router.post("", status_code=201, response_model=PlanOut, summary="Create a plan")
def create(body: PlanIn, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        return render_plan(create_plan(conn, principal.org_id, body))


@router.get("", response_model=PlanList, summary="List plans")
def list_(request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return {"data": [render_plan(r) for r in list_plans(conn, principal.org_id)]}


@router.get("/{ref}", response_model=PlanOut, summary="Get a plan by key or id")
def get(ref: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        plan = get_plan(conn, principal.org_id, ref)
        assert plan is not None
        return render_plan(plan)
