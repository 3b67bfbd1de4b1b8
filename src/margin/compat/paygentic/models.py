"""Paygentic's wire (paygentic-sdk 0.6.3): request bodies and responses, camelCase. Amounts
go out as decimal strings (the SDK reads them into its number fields)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, field_validator

from margin._money import format_decimal, storable_amount
from margin.compat._common import CamelModel

__all__ = [
    "BillableMetricIn",
    "BillableMetricOut",
    "CostMetricIn",
    "CostMetricOut",
    "CostReport",
    "CostSummary",
    "MeterValue",
    "PaygenticCustomerIn",
    "PaygenticCustomerOut",
    "PaygenticEventIn",
    "PaygenticEventOut",
    "PaygenticProductIn",
    "PaygenticProductOut",
]

Name = Annotated[str, Field(min_length=1, max_length=256)]
Aggregation = Literal["SUM", "COUNT", "AVG", "MIN", "MAX", "UNIQUE_COUNT", "LATEST"]


class PaygenticEventIn(CamelModel):
    """``POST /v0/events``: a metering (or cost) event of one customer."""

    type: Name
    source: Annotated[str, Field(min_length=1, max_length=256)]
    data: dict[str, Any]
    subject: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    external_subject: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    namespace: str | None = None
    timestamp: AwareDatetime | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    external_id: str | None = None


class PaygenticEventOut(CamelModel):
    id: str | None = None
    object: Literal["event"] = "event"
    type: str
    source: str
    subject: str | None = None
    idempotency_key: str | None = None
    status: str


class _Address(CamelModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    zip_code: str | None = None


class _Consumer(CamelModel):
    name: Annotated[str, Field(max_length=256)] | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    address: _Address | None = None
    phone: str | None = None


class PaygenticCustomerIn(CamelModel):
    merchant_id: str
    consumer: _Consumer | None = None
    consumer_id: str | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    tax_id: str | None = None


class PaygenticCustomerOut(CamelModel):
    customer_id: str
    valid_tax_address: dict[str, bool]


class PaygenticProductIn(CamelModel):
    name: Name
    description: Annotated[str, Field(max_length=4000)]
    merchant_id: str
    metadata: dict[str, Any] | None = None


class PaygenticProductOut(CamelModel):
    id: str
    object: Literal["product"] = "product"
    name: str
    description: str
    merchant_id: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str


class _Metric(CamelModel):
    name: Name
    event_type: Name
    aggregation: Aggregation
    value_property: Annotated[str, Field(max_length=512)] | None = None
    group_by: dict[str, Annotated[str, Field(max_length=512)]] | None = None
    merchant_id: str | None = None
    product_id: str | None = None
    unit: str | None = None


class CostMetricIn(_Metric):
    """``POST /v0/costs``: a cost metric, kept as a Margin meter of kind ``cost``."""

    type: Literal["metered"] = "metered"
    unit_cost: str
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]

    @field_validator("unit_cost", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> str:
        return format_decimal(storable_amount(value, "unitCost"))


class CostMetricOut(CamelModel):
    id: str
    object: Literal["cost"] = "cost"
    type: Literal["metered"] = "metered"
    name: str
    currency: str
    unit_cost: str
    product_id: str
    merchant_id: str
    unit: str | None = None
    aggregation: str
    event_type: str
    value_property: str | None = None
    group_by: dict[str, str]
    created_at: str
    updated_at: str


class BillableMetricIn(_Metric):
    """``POST /v0/billableMetrics``: a Margin meter of kind ``billable``."""

    description: str
    item_id: str | None = None
    event_from: AwareDatetime | None = None


class BillableMetricOut(CamelModel):
    id: str
    object: Literal["billableMetric"] = "billableMetric"
    aggregation: str
    description: str
    merchant_id: str
    name: str
    product_id: str
    unit: str
    item_id: str | None = None
    event_type: str
    value_property: str | None = None
    group_by: dict[str, str]
    created_at: str
    updated_at: str


class CostSummary(CamelModel):
    id: str
    object: Literal["cost"] = "cost"
    name: str
    type: Literal["metered"] = "metered"
    currency: str
    event_type: str
    total_cost: str | None
    total_quantity: str | None
    groups: list[dict[str, Any]]
    time_series: list[dict[str, Any]]


class CostReport(CamelModel):
    object: Literal["cost_report"] = "cost_report"
    currency: str
    period: dict[str, str]
    group_by: str
    total_cost: str
    total_quantity: str
    groups: list[dict[str, Any]]
    time_series: list[dict[str, Any]]
    available_dimensions: list[str]
    warnings: list[str]
    group_count: int
    pagination: dict[str, int]


class MeterValue(CamelModel):
    billable_metric_id: str
    object: Literal["meter"] = "meter"
    total_value: str
    windowed_values: list[dict[str, Any]]
    grouped_values: list[dict[str, Any]]
    group_count: int
