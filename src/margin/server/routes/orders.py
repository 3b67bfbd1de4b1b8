"""``/v1/orders``: which customer bought which plan, when. The services are in
``margin.billing.orders``."""

from __future__ import annotations

import json
from decimal import Decimal
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
from margin.server.routes._billing_api import OrderList, OrderOut
from margin.server.state import AppState
from margin.store.keys import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/orders", tags=["plans"])

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


async def _exact_overrides(request: Request) -> Any:
    """The body's overrides with each number exactly as sent. The body is parsed with
    floats, where ``1e-400`` is already 0 and a price would be rounded: the overrides are
    amounts of money, so they are read again with every number a Decimal (what the order
    stores is normalised to decimal strings, never these)."""
    try:
        body = json.loads(await request.body(), parse_float=Decimal)
    except ValueError:  # not JSON: FastAPI answers for the body
        return None
    return body.get("overrides") if isinstance(body, dict) else None


Overrides = Annotated[Any, Depends(_exact_overrides)]


@router.post("", status_code=201, response_model=OrderOut, summary="Subscribe a customer")
def create(body: OrderIn, request: Request, principal: Admin, exact: Overrides) -> dict[str, Any]:
    if isinstance(exact, dict):
        body = body.model_copy(update={"overrides": exact})
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
