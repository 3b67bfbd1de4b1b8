"""What the billing routes (plans, orders, meters, events, invoices) share: their response
and small request models, so that ``/openapi.json`` describes every answer, and the problem
answer of a refused request. Money is an exact decimal string; the request models of plans,
orders and meters live beside their services in ``margin.billing``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from margin._storable import Storable
from margin.billing.errors import BillingError
from margin.billing.plans import EntitlementIn, FeeIn, OutcomeIn, UsageIn
from margin.server.problems import Problem

__all__ = [
    "EventList",
    "GenerateIn",
    "GenerateOut",
    "Invoice",
    "InvoiceList",
    "MeterList",
    "MeterOut",
    "MeterQueryOut",
    "OrderList",
    "OrderOut",
    "PlanList",
    "PlanOut",
    "VoidIn",
    "problem",
]

Money = Annotated[str | None, Field(description="Exact decimal string.")]
Time = Annotated[str, Field(description="RFC 3339, UTC.")]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class PlanOut(_Out):
    id: str
    key: str
    name: str | None
    agent_id: str | None
    currency: str
    outcomes: list[OutcomeIn]
    fees: list[FeeIn]
    usage: list[UsageIn]
    minimum: Money
    entitlements: list[EntitlementIn] = Field(
        default_factory=list, description="Granted by every order of the plan while in force."
    )
    created_at: Time
    updated_at: Time


class PlanList(_Out):
    data: list[PlanOut]


class OrderOut(_Out):
    id: str
    customer_id: str
    plan_id: str
    plan: str | None = Field(description="The plan's key.")
    starts_at: Time
    ends_at: Time | None
    overrides: dict[str, Any]
    charges: dict[str, Any] | None = Field(description="The plan's charges with the overrides.")
    created_at: Time


class OrderList(_Out):
    data: list[OrderOut]


class MeterOut(_Out):
    id: str
    key: str
    name: str | None
    event_type: str
    value_property: str | None
    aggregation: str
    group_by: dict[str, str]
    kind: str
    unit_cost: Money
    currency: str | None
    created_at: Time
    updated_at: Time


class MeterList(_Out):
    data: list[MeterOut]


class MeterWindow(_Out):
    window_start: Time
    window_end: Time
    value: str | None
    events: int
    cost: Money


class MeterGroup(_Out):
    group_by: dict[str, str | None]
    value: str | None
    events: int
    cost: Money


class MeterQueryOut(_Out):
    meter: str
    aggregation: str
    kind: str
    from_: Time = Field(alias="from")
    to: Time
    tz: str
    window: str | None
    value: str | None = Field(description="The aggregate (null: undefined, e.g. avg of none).")
    events: int
    currency: str | None
    cost: Money = Field(
        description="Cost meters: the sum of the events' costs (value × unit cost, each "
        "rounded to the nano-unit)."
    )
    windows: list[MeterWindow]
    groups: list[MeterGroup]


class EventOut(_Out):
    id: str
    type: str
    customer_id: str | None
    timestamp: Time
    data: dict[str, Any]
    idempotency_key: str


class EventList(_Out):
    data: list[EventOut]
    next_cursor: str | None


class Tier(_Out):
    from_: str = Field(alias="from")
    up_to: str | None
    units: str
    unit_price: str
    flat_fee: str
    amount: str


class InvoiceLine(_Out):
    type: str = Field(description="fee | outcome | usage | minimum")
    key: str
    description: str
    order_id: str
    event_name: str | None
    late_from: str | None = Field(description="A late outcome: the period it happened in.")
    quantity: str | None
    unit_price: Money
    amount: Money = Field(description="Billed: rounded half-even to the minor unit.")
    exact_amount: Money = Field(None, description="Before rounding to the minor unit.")
    tiers: list[Tier]
    detail: dict[str, Any]
    cost: Money = Field(description="Seller only: the AI cost behind the line.")
    cost_other_currencies: dict[str, str]
    margin: Money


class InvoiceCustomer(_Out):
    id: str
    external_id: str
    name: str | None
    email: str | None = None


class Invoice(_Out):
    id: str
    number: str | None
    status: str = Field(description="draft | finalized | void")
    customer_id: str
    customer: InvoiceCustomer | None
    currency: str
    period: str
    period_start: Time
    period_end: Time
    lines: list[InvoiceLine]
    total: Money = Field(description="The sum of the lines.")
    cost: Money
    cost_other_currencies: dict[str, str]
    margin: Money
    margin_pct: str | None
    issued_at: Time | None
    due_at: Time | None
    as_of: Time
    created_at: Time
    updated_at: Time
    finalized_at: Time | None
    voided_at: Time | None
    void_reason: str | None


class InvoiceList(_Out):
    data: list[Invoice]


class GenerateIn(Storable):
    period: Annotated[str, Field(description="A calendar month, YYYY-MM (UTC).")]
    customers: list[str] | None = Field(None, description="External ids; default: all.")


class GenerateOut(_Out):
    period: str
    data: list[Invoice]


class VoidIn(Storable):
    reason: Annotated[str, Field(min_length=1, max_length=512)]


def problem(exc: BillingError) -> Problem:
    """The problem answer of a refused billing request."""
    return Problem(exc.status, exc.detail, field=exc.field)
