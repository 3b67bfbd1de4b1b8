"""Input models of the ingest endpoints: one signal, cost or event, as the API accepts it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from margin._money import storable_amount

__all__ = ["CostIn", "EventIn", "SignalIn"]

Key = Annotated[str, Field(min_length=1, max_length=256)]
Ref = Annotated[str, Field(min_length=1, max_length=256)]
TraceId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
SpanId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer: Ref | None = Field(None, description="The customer's external id.")
    customer_id: Ref | None = Field(None, description="The customer's Margin id.")
    timestamp: AwareDatetime | None = Field(None, description="When it happened (RFC 3339).")
    idempotency_key: Key | None = None


class SignalIn(_Item):
    """One business outcome."""

    event_name: Annotated[str, Field(min_length=1, max_length=256)]
    agent: Ref | None = Field(None, description="The agent's external id.")
    agent_id: Ref | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    trace_id: TraceId | None = None
    cost_tracing: bool = False

    @model_validator(mode="after")
    def _needs_customer(self) -> SignalIn:
        if self.customer is None and self.customer_id is None:
            raise ValueError("customer or customer_id is required")
        return self


class CostIn(_Item):
    """One AI or provider cost: an amount the caller knows, or usage to be priced."""

    agent: Ref | None = None
    agent_id: Ref | None = None
    trace_id: TraceId | None = None
    span_id: SpanId | None = None
    response_id: Annotated[str, Field(max_length=256)] | None = None
    provider: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    operation: Annotated[str, Field(max_length=64)] | None = None
    amount: Decimal | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    usage: dict[str, Any] | None = None
    price_context: dict[str, str] | None = None

    @field_validator("amount", mode="before")
    @classmethod
    def _exact_amount(cls, value: Any) -> Any:
        return None if value is None else storable_amount(value)

    @model_validator(mode="after")
    def _amount_or_usage(self) -> CostIn:
        if self.amount is None and not self.usage:
            raise ValueError("amount or usage is required")
        if self.amount is not None and self.currency is None:
            raise ValueError("currency is required with amount")
        return self


class EventIn(_Item):
    """One generic metering event."""

    type: Annotated[str, Field(min_length=1, max_length=256)]
    data: dict[str, Any] = Field(default_factory=dict)
