"""``POST /v1/plans/simulate``: the pricing simulator — a past period's recorded facts
re-rated under a candidate plan, beside the actual figures, storing nothing. The service is
``margin.reports.simulation``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from margin.reports.currency import Converter
from margin.reports.simulation import SimulationIn, simulate
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._report_models import Rates, Unconverted
from margin.server.state import AppState
from margin.store.keys import Principal
from margin.store.organization import reporting_currency

__all__ = ["router"]

router = APIRouter(prefix="/v1/plans", tags=["plans"], route_class=ExactJsonRoute)

Reader = Annotated[Principal, Depends(require("read"))]
Money = Annotated[str | None, Field(description="Exact decimal string; null: not tracked.")]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class SimulatedFigures(_Out):
    cost: Money
    revenue: Money
    profit: Money
    margin_pct: str | None
    unconverted: list[Unconverted] | None = None


class Change(_Out):
    revenue: Money = Field(description="Candidate − actual.")
    profit: Money = Field(description="Candidate − actual.")


class CustomerResult(_Out):
    customer_id: str | None
    label: str
    currency: str | None
    orders_replaced: int
    actual: SimulatedFigures
    candidate: SimulatedFigures
    change: Change


class TotalResult(_Out):
    currency: str | None
    actual: SimulatedFigures
    candidate: SimulatedFigures
    change: Change


class Candidate(_Out):
    key: str
    currency: str
    stored: bool


class Span(_Out):
    from_: str = Field(alias="from")
    to: str


class SimulationOut(_Out):
    from_: str = Field(alias="from", description="First billing period.")
    to: str = Field(description="Last billing period.")
    period: Span
    plan: Candidate
    replaces: str
    orders_replaced: int
    customers: list[CustomerResult]
    totals: list[TotalResult]
    currency: str | None = None
    rates: Rates = None


@router.post(
    "/simulate",
    response_model=SimulationOut,
    response_model_exclude_unset=True,
    summary="Re-rate a past period under a candidate plan",
)
def simulate_plan(
    body: SimulationIn,
    request: Request,
    principal: Reader,
    by_currency: Annotated[
        bool, Query(description="Per original currency, not in the reporting currency.")
    ] = False,
) -> dict[str, Any]:
    """Revenue, cost, profit and margin per customer and in total over the billing periods
    ``from``…``to``, actual and with the candidate plan in place of the plan it replaces.
    Nothing is stored."""
    state = AppState.of(request)
    with state.db.read() as conn:
        org_id = principal.org_id
        convert = None if by_currency else Converter(conn, org_id, reporting_currency(conn, org_id))
        return simulate(conn, org_id, body, now=state.clock(), convert=convert)
