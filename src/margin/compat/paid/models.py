"""Paid's REST wire (paid-python 1.12.0, API v2): the request bodies Margin accepts and the
responses it answers, camelCase, with every field the SDK's models require."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from margin._money import storable_amount
from margin.compat._common import CamelModel, Count

__all__ = [
    "BillingAddress",
    "BulkSignalsIn",
    "BulkSignalsOut",
    "ContactIn",
    "ContactOut",
    "CostOverride",
    "CostRecord",
    "CostsIn",
    "CostsOut",
    "CustomerIn",
    "CustomerOut",
    "Empty",
    "OrderLineIn",
    "Page",
    "Pagination",
    "PaidOrderIn",
    "PaidOrderOut",
    "PaidPlanIn",
    "PaidPlanOut",
    "PlanAttributeIn",
    "ProductIn",
    "ProductOut",
    "SignalIn",
    "SignalOut",
    "TokenUsage",
]

Name = Annotated[str, Field(min_length=1, max_length=256)]
Ref = Annotated[str, Field(min_length=1, max_length=256)]


class Empty(CamelModel):
    """What a DELETE answers: an empty object (Paid's client refuses an empty body)."""


class Pagination(CamelModel):
    limit: int
    offset: int
    total: int
    has_more: bool


class Page(CamelModel):
    data: list[dict[str, Any]]
    pagination: Pagination


class BillingAddress(CamelModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    country: str | None = None


class CustomerIn(CamelModel):
    """``POST customers/`` and ``PUT customers/{id}`` (every field optional on PUT)."""

    name: Annotated[str, Field(max_length=256)] | None = None
    legal_name: str | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    phone: str | None = None
    website: str | None = None
    external_id: Ref | None = None
    billing_address: BillingAddress | None = None
    creation_state: str | None = None
    vat_number: str | None = None
    metadata: dict[str, Any] | None = None
    default_currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    churn_date: str | None = None


class CustomerOut(CamelModel):
    id: str
    name: str
    legal_name: str | None = None
    email: str
    phone: str
    website: str
    external_id: str | None = None
    billing_address: BillingAddress | None = None
    creation_state: str
    status: str
    churn_date: str | None = None
    vat_number: str | None = None
    default_currency: str
    connections: dict[str, Any]
    metadata: dict[str, Any] | None = None
    created_at: str
    updated_at: str


class ProductIn(CamelModel):
    """``POST products/`` and ``PUT products/{id}``: a Paid product is a Margin agent."""

    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None
    active: bool | None = None
    product_code: str | None = None
    external_id: Ref | None = None
    metadata: dict[str, Any] | None = None
    product_attributes: list[dict[str, Any]] | None = None


class ProductOut(CamelModel):
    id: str
    name: str
    description: str | None = None
    active: bool
    product_code: str | None = None
    external_id: str | None = None
    metadata: dict[str, Any] | None = None
    product_attributes: list[dict[str, Any]] = Field(default_factory=list)
    created_at: str
    updated_at: str


class ContactIn(CamelModel):
    customer_id: Ref | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    billing_address: dict[str, Any] | None = None
    external_id: Ref | None = None
    roles: list[str] | None = None


class ContactOut(CamelModel):
    id: str
    customer_id: str
    first_name: str
    last_name: str
    email: str
    phone: str | None = None
    billing_address: dict[str, Any] | None = None
    external_id: str | None = None
    roles: list[str]
    created_at: str
    updated_at: str


class _CustomerRef(CamelModel):
    """``{customerId}`` or ``{externalCustomerId}``: Paid requires a customer on every
    signal and cost, so an empty one is refused (a cost would be stored with none)."""

    customer_id: Ref | None = None
    external_customer_id: Ref | None = None

    @model_validator(mode="after")
    def _one(self) -> _CustomerRef:
        if self.customer_id is None and self.external_customer_id is None:
            raise ValueError("customerId or externalCustomerId is required")
        return self


class _ProductRef(CamelModel):
    product_id: Ref | None = None
    external_product_id: Ref | None = None


class SignalIn(CamelModel):
    """One signal of ``POST signals/bulk``."""

    event_name: Name
    customer: _CustomerRef
    customer_unit: dict[str, Any] | None = None
    attribution: _ProductRef | None = None
    timestamp: AwareDatetime | None = None
    data: dict[str, Any] | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class BulkSignalsIn(CamelModel):
    # Items are checked one by one (a bad one fails alone), so they arrive as plain objects.
    signals: list[Any]

    checked_apart = frozenset({"signals"})


class BulkSignalsOut(CamelModel):
    """Paid's three counts, and ``accepted``: in queue mode, the items the ingest queue
    has, to be stored by a writer (counted neither ingested nor failed)."""

    accepted: int = 0
    ingested: int
    duplicates: int
    failed: int
    errors: list[dict[str, Any]] = Field(default_factory=list)


class SignalOut(CamelModel):
    id: str
    name: str
    created_at: str
    customer_id: str | None = None
    external_customer_id: str | None = None
    product_id: str | None = None
    external_product_id: str | None = None
    trace_id: str | None = None
    data: dict[str, Any] | None = None


class TokenUsage(CamelModel):
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_read_input_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    reasoning_output_tokens: Count | None = None


def _amount(value: Any) -> str:
    return str(storable_amount(value))


class CostOverride(CamelModel):
    amount: str
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> str:
        return _amount(value)


class CostRecord(CamelModel):
    """One record of ``POST costs/bulk``: a ``cost`` (an amount) or a ``usage`` (tokens that
    Margin prices, unless ``costOverride`` gives the amount)."""

    type: Literal["cost", "usage"]
    customer: _CustomerRef
    product: _ProductRef | None = None
    amount: str | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    vendor: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    usage: TokenUsage | None = None
    cost_override: CostOverride | None = None
    timestamp: AwareDatetime | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> str | None:
        return None if value is None else _amount(value)


class CostsIn(CamelModel):
    costs: list[Any]

    checked_apart = frozenset({"costs"})


class CostsOut(CamelModel):
    """As ``BulkSignalsOut``."""

    accepted: int = 0
    ingested: int
    duplicates: int
    failed: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list)


# -- plans and orders ---------------------------------------------------------------------


class PricePoint(CamelModel):
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    unit_price: int = Field(description="In the currency's minor unit (cents).")


class PricingIn(CamelModel):
    """The pricing of a plan attribute (Margin maps ``UsagePerUnit`` and
    ``RecurringPerUnit``; other types are refused by name)."""

    pricing_type: str | None = None
    event_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    billing_frequency: str | None = None
    price_points: list[PricePoint] = Field(default_factory=list)


class PlanAttributeIn(CamelModel):
    product_attribute_id: Annotated[str, Field(max_length=64)] | None = None
    pricing: PricingIn


class OrderLineIn(CamelModel):
    product_id: Annotated[str, Field(min_length=1, max_length=256)]
    name: str | None = None
    description: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    line_type: str | None = None


class PaidPlanIn(CamelModel):
    product_id: Annotated[str, Field(min_length=1, max_length=256)]
    attributes: list[PlanAttributeIn]
    name: Annotated[str, Field(max_length=256)] | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    supported_currencies: list[str] | None = None
    is_default: bool | None = None


class PaidPlanOut(CamelModel):
    id: str
    product_id: str
    name: str | None = None
    external_id: str | None = None
    supported_currencies: list[str]
    is_default: bool
    status: str
    attributes: list[dict[str, Any]]
    created_at: str
    updated_at: str


class PaidOrderIn(CamelModel):
    customer_id: Annotated[str, Field(min_length=1, max_length=256)]
    name: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    currency: str | None = None
    external_id: Ref | None = None
    creation_state: str | None = None
    lines: list[OrderLineIn] = Field(default_factory=list)


class PaidOrderOut(CamelModel):
    id: str
    customer_id: str
    billing_contact_ids: list[str]
    name: str
    start_date: str
    end_date: str | None = None
    currency: str | None = None
    external_id: str | None = None
    billed_amount_no_tax: str
    billed_tax: str
    estimated_tax: str
    order_amount: str
    pending_billing_amount: str
    total_amount: str
    total_billed_amount: str
    creation_state: str
    number: int
    version: int
    billing_frequency_overridden: bool
    lines: list[dict[str, Any]]
    created_at: str
    updated_at: str
