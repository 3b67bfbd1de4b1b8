"""``GET /v1/signals`` and ``GET /v1/signals/{id}``: signals, and the cost attributed to one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select

from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.problems import Problem
from margin.server.responses import JSONResponse
from margin.server.routes._views import (
    AgentRef,
    CustomerRef,
    Limit,
    Page,
    SignalView,
    Since,
    Until,
    money,
    page,
    signal_view,
    trace_id_param,
)
from margin.server.state import AppState
from margin.store.keys import Principal
from margin.store.schema import costs, signals

__all__ = ["router"]

router = APIRouter(tags=["signals"], route_class=ExactJsonRoute)

Read = Annotated[Principal, Depends(require("read"))]


class SignalDetail(SignalView):
    """A signal, with the cost attributed to it per currency and how many costs that is."""

    attributed_cost: dict[str, str]
    costs: int
    unpriced_costs: int


@router.get(
    "/v1/signals/{signal_id}",
    summary="A signal and the cost attributed to it",
    response_model=SignalDetail,
)
def get_signal(signal_id: str, request: Request, principal: Read) -> JSONResponse:
    """The signal, with ``attributed_cost`` per currency and the number of its costs."""
    org = principal.org_id
    if "\x00" in signal_id:  # no id holds NUL
        raise Problem(404, "no such signal", field="signal_id")
    with AppState.of(request).db.read() as conn:
        row = conn.execute(
            select(signals).where(signals.c.org_id == org, signals.c.id == signal_id)
        ).first()
        if row is None:
            raise Problem(404, f"no signal '{signal_id}'", field="signal_id")
        sums = conn.execute(
            select(
                costs.c.currency,
                func.coalesce(func.sum(costs.c.amount_nanos), 0).label("nanos"),
                func.count(costs.c.id).label("n"),
                func.count(costs.c.amount_nanos).label("priced"),
            )
            .where(costs.c.org_id == org, costs.c.signal_id == signal_id)
            .group_by(costs.c.currency)
        ).all()
    body = signal_view(row)
    body["attributed_cost"] = money({r.currency: int(r.nanos) for r in sums if r.priced})
    body["costs"] = sum(int(r.n) for r in sums)
    body["unpriced_costs"] = sum(int(r.n) - int(r.priced) for r in sums)
    return JSONResponse(body)


@router.get("/v1/signals", summary="List signals", response_model=Page[SignalView])
def list_signals(
    request: Request,
    principal: Read,
    trace_id: str | None = None,
    customer: CustomerRef = None,
    event_name: str | None = None,
    agent: AgentRef = None,
    from_: Since = None,
    to: Until = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> JSONResponse:
    """Signals by id, filtered by trace, customer and agent (external ids), event name and
    time (``from`` inclusive, ``to`` exclusive)."""
    refs = {
        "trace_id": trace_id_param(trace_id) if trace_id is not None else None,
        "event_name": event_name,
    }
    return page(
        request,
        principal.org_id,
        signals,
        signal_view,
        refs,
        (customer, agent),
        (from_, to),
        limit,
        cursor,
    )
