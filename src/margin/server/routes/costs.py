"""``GET /v1/costs``: the cost records, with how each was priced."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import ColumnElement

from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.responses import JSONResponse
from margin.server.routes._views import (
    AgentRef,
    CostView,
    CustomerRef,
    Limit,
    Page,
    Since,
    Until,
    cost_view,
    page,
    trace_id_param,
)
from margin.store.attribution import trace_costs
from margin.store.keys import Principal
from margin.store.schema import costs

__all__ = ["router"]

router = APIRouter(tags=["costs"], route_class=ExactJsonRoute)

PricedBy = Annotated[
    str | None, Query(pattern="^(provided|catalog|override|unpriced)$", description="How priced.")
]


@router.get("/v1/costs", summary="List costs", response_model=Page[CostView])
def list_costs(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    priced_by: PricedBy = None,
    trace_id: str | None = None,
    signal_id: str | None = None,
    customer: CustomerRef = None,
    agent: AgentRef = None,
    from_: Since = None,
    to: Until = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> JSONResponse:
    """Costs by id, filtered by how they were priced, trace, signal, customer and agent
    (external ids) and time (``from`` inclusive, ``to`` exclusive)."""
    refs = {"priced_by": priced_by, "signal_id": signal_id}
    where: list[ColumnElement[bool]] = []
    if trace_id is not None:
        # Through the indexes that hold a trace's costs (see ``trace_costs``).
        ids = trace_costs(principal.org_id, [trace_id_param(trace_id)], [costs.c.id])
        where.append(costs.c.id.in_(ids))
    return page(
        request,
        principal.org_id,
        costs,
        cost_view,
        refs,
        (customer, agent),
        (from_, to),
        limit,
        cursor,
        *where,
    )
