"""``/v1/webhooks``: endpoints (with their secret, rotation, enable/disable) and the delivery
log, with manual replay. Services: ``margin.control.outbox`` and ``margin.control.delivery``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from margin._time import isoformat
from margin.control.delivery import delivery_log
from margin.control.errors import ControlError
from margin.control.outbox import (
    EndpointIn,
    create_endpoint,
    get_endpoint,
    list_endpoints,
    render_endpoint,
    replay,
    rotate_secret,
    set_enabled,
)
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._control_api import Admin, Reader
from margin.server.state import AppState

__all__ = ["router"]

router = APIRouter(tags=["webhooks"], route_class=ExactJsonRoute)


class Replayed(BaseModel):
    """A delivery queued to be sent again (202: a sender takes it when one is free)."""

    id: str
    status: str = Field(description="`pending` until a sender has tried it.")
    next_attempt_at: str = Field(description="RFC 3339: from when a sender may take it.")


@router.post("/v1/webhooks/endpoints", status_code=201, summary="Register a webhook endpoint")
def create(body: EndpointIn, request: Request, principal: Admin) -> dict[str, Any]:
    """The answer holds the endpoint's signing secret (also readable by admins later)."""
    state = AppState.of(request)
    with state.db.write() as conn:
        row = create_endpoint(conn, principal.org_id, body, state.clock())
    return render_endpoint(row, with_secret=True)


@router.get("/v1/webhooks/endpoints", summary="List webhook endpoints")
def list_(request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return {"data": [render_endpoint(r) for r in list_endpoints(conn, principal.org_id)]}


@router.get("/v1/webhooks/endpoints/{endpoint_id}", summary="Get an endpoint with its secret")
def get(endpoint_id: str, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return render_endpoint(get_endpoint(conn, principal.org_id, endpoint_id), with_secret=True)


@router.post(
    "/v1/webhooks/endpoints/{endpoint_id}/rotate",
    summary="Rotate the secret (the old one also signs for 24 hours)",
)
def rotate(endpoint_id: str, request: Request, principal: Admin) -> dict[str, Any]:
    state = AppState.of(request)
    with state.db.write() as conn:
        row = rotate_secret(conn, principal.org_id, endpoint_id, state.clock())
    return render_endpoint(row, with_secret=True)


@router.post("/v1/webhooks/endpoints/{endpoint_id}/{action}", summary="Enable or disable")
def toggle(endpoint_id: str, action: str, request: Request, principal: Admin) -> dict[str, Any]:
    if action not in ("enable", "disable"):
        raise ControlError(404, f"no action '{action}' (enable, disable)", "action")
    with AppState.of(request).db.write() as conn:
        row = set_enabled(conn, principal.org_id, endpoint_id, action == "enable")
    return render_endpoint(row)


@router.get("/v1/webhooks/deliveries", summary="The delivery log: deliveries and attempts")
def deliveries(
    request: Request,
    principal: Reader,
    endpoint_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return {"data": delivery_log(conn, principal.org_id, endpoint_id, limit)}


@router.post(
    "/v1/webhooks/deliveries/{delivery_id}/replay",
    status_code=202,
    summary="Send again",
    response_model=Replayed,
)
def replay_(delivery_id: str, request: Request, principal: Admin) -> dict[str, Any]:
    state = AppState.of(request)
    now = state.clock()
    with state.db.write() as conn:
        replay(conn, principal.org_id, delivery_id, now)
    return {"id": delivery_id, "status": "pending", "next_attempt_at": isoformat(now)}
