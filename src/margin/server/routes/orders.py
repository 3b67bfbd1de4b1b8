"""``/v1/orders``: which customer bought which plan, when. The services are in
``margin.billing.orders``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from margin.billing.orders import (
    OrderEnd,
    OrderIn,
    create_order,
    end_order,
    get_order,
    list_orders,
    render_order,
)
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._billing_api import OrderList, OrderOut
from margin.server.state import AppState
from margin.store.keys import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/orders", tags=["plans"], route_class=ExactJsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


@router.post("", status_code=201, response_model=OrderOut, summary="Subscribe a customer")
def create(body: OrderIn, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        return render_order(create_order(conn, principal.org_id, body))


@router.get("", response_model=OrderList, summary="List orders")
def list_(
    request: Request,
    principal: Reader,
    customer: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return {"data": [render_order(r) for r in list_orders(conn, principal.org_id, customer)]}


@router.get("/{order_id}", response_model=OrderOut, summary="Get an order")
def get(order_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return render_order(get_order(conn, principal.org_id, order_id))


@router.patch("/{order_id}", response_model=OrderOut, summary="End (or reopen) an order")
def end(order_id: str, body: OrderEnd, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        return render_order(end_order(conn, principal.org_id, order_id, body))
