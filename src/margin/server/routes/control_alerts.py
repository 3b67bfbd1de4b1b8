"""``/v1/alerts``: alert rules and the alerts they fired. Service: ``margin.control.alerts``
(rules are evaluated by the control worker that runs with ``margin serve``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from margin.control.alerts import RuleIn, create_rule, list_alerts, list_rules, render_rule
from margin.control.errors import ControlError
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._control_api import Admin, Reader, customer_id
from margin.server.state import AppState
from margin.store.directory import AGENTS

__all__ = ["router"]

router = APIRouter(tags=["alerts"], route_class=ExactJsonRoute)


@router.post("/v1/alerts/rules", status_code=201, summary="Create an alert rule")
def create(body: RuleIn, request: Request, principal: Admin) -> dict[str, Any]:
    """``customer`` and ``agent`` take ids or external ids."""
    state = AppState.of(request)
    with state.db.write() as conn:
        org = principal.org_id
        if body.customer is not None:
            found = customer_id(
                conn, org, body.customer, external=not body.customer.startswith("cus_")
            )
            body = body.model_copy(update={"customer": found})
        if body.agent is not None:
            agent = AGENTS.get(conn, org, body.agent) or AGENTS.get_by_external(
                conn, org, body.agent
            )
            if agent is None:
                raise ControlError(404, f"no agent '{body.agent}'", "agent")
            body = body.model_copy(update={"agent": agent["id"]})
        return render_rule(create_rule(conn, org, body, state.clock()))


@router.get("/v1/alerts/rules", summary="List alert rules")
def rules(request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return {"data": [render_rule(r) for r in list_rules(conn, principal.org_id)]}


@router.get("/v1/alerts", summary="Alerts fired, newest first")
def alerts(
    request: Request,
    principal: Reader,
    state: Literal["triggered", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return {"data": list_alerts(conn, principal.org_id, state, limit)}
