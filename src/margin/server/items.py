"""Input models of the ingest endpoints: one signal, cost or event as the API accepts it, and
the request bodies (one item, or ``{"items": [...]}``).

These models are the one validation of every fact, whichever way it arrives: REST, a
signal's ``data.costData``, an OTLP span (the converter builds items), a compatibility
adapter. Before a model sees an item, ``margin._payload.check_json`` has refused what
no store can hold (NUL, deep nesting, 64-bit overflow).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from margin._currency import CurrencyCode
from margin._money import MoneyError, format_decimal, parse_amount, to_nanos
from margin._time import check_range, parse_timestamp

__all__ = [
    "MAX_AMOUNT",
    "MAX_KEY_LENGTH",
    "CostBatch",
    "CostBody",
    "CostIn",
    "EventBatch",
    "EventBody",
    "EventIn",
    "SignalBatch",
    "SignalBody",
    "SignalIn",
    "cost_amount",
]

#: The largest amount of one cost, in units of its currency.
MAX_AMOUNT = Decimal(1_000_000_000)
#: The longest idempotency key, external id or event name (characters).
MAX_KEY_LENGTH = 256

Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)]
Ref = Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)]
TraceId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
SpanId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
_UNIT_HELP = "The external id of the customer's unit (sub-account) it is attributed to."
_TIME_HELP = (
    "RFC 3339 with an offset, e.g. 2026-10-05T12:00:00Z; at most MARGIN_MAX_FUTURE_SECONDS ahead"
)


def _fact_time(value: Any) -> datetime:
    """A fact's time: RFC 3339 text with an offset (a number, even as text, is refused), or
    an aware datetime from the server's own converters; inside 1970 … 2200 either way."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a timezone offset")
        return check_range(value)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise ValueError(
        "timestamp must be an RFC 3339 string with an offset, e.g. 2026-10-05T12:00:00Z"
    )


FactTime = Annotated[
    datetime,
    PlainValidator(_fact_time),
    WithJsonSchema({"type": "string", "format": "date-time", "description": _TIME_HELP}),
]


def cost_amount(value: Any) -> Decimal:
    """A cost's amount: a decimal string or an integer (a JSON number with a fraction is read
    by its shortest form), 0 … ``MAX_AMOUNT``, stored to the nano-unit (half-even); a
    non-zero amount that would be stored as 0 is refused rather than lost."""
    try:
        amount = parse_amount(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if amount < 0:
        raise ValueError("amount must not be negative")
    if amount > MAX_AMOUNT:
        raise ValueError(f"amount must be at most {format_decimal(MAX_AMOUNT)}")
    if amount and not to_nanos(amount):
        raise ValueError(
            f"amount {value} is below the smallest storable amount 0.000000001 (one nano-unit)"
        )
    return amount


def _currency(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Amount = Annotated[
    Decimal,
    PlainValidator(cost_amount),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{1,10}(\.\d+)?$",
            "description": "A decimal string, 0 … 1000000000, to the nano-unit (9 decimals).",
        }
    ),
]
Currency = Annotated[CurrencyCode, BeforeValidator(_currency)]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: The fields holding free-form JSON (the caller's own structure).
    free_form: ClassVar[tuple[str, ...]] = ()

    customer: Ref | None = Field(None, description="The customer's external id.")
    customer_id: Ref | None = Field(None, description="The customer's Margin id.")
    timestamp: FactTime | None = Field(None, description="When it happened (default: now).")
    idempotency_key: Key | None = Field(
        None, description="Retries with the same key are stored once (default: see dedupe)."
    )


class SignalIn(_Item):
    """One business outcome."""

    event_name: Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)]
    unit: Ref | None = Field(None, description=_UNIT_HELP)
    agent: Ref | None = Field(None, description="The agent's external id.")
    agent_id: Ref | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    trace_id: TraceId | None = None
    cost_tracing: bool = False

    free_form: ClassVar[tuple[str, ...]] = ("data",)

    @model_validator(mode="after")
    def _needs_customer(self) -> SignalIn:
        if self.customer is None and self.customer_id is None:
            raise ValueError("customer or customer_id is required")
        return self


class CostIn(_Item):
    """One AI or provider cost: an amount the caller knows, or usage to be priced."""

    unit: Ref | None = Field(None, description=_UNIT_HELP)
    agent: Ref | None = None
    agent_id: Ref | None = None
    trace_id: TraceId | None = None
    span_id: SpanId | None = None
    response_id: Annotated[str, Field(max_length=MAX_KEY_LENGTH)] | None = None
    provider: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    operation: Annotated[str, Field(max_length=64)] | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    usage: dict[str, Any] | None = None
    price_context: dict[str, str] | None = None

    free_form: ClassVar[tuple[str, ...]] = ("usage", "price_context")

    @model_validator(mode="after")
    def _amount_or_usage(self) -> CostIn:
        if self.amount is None and not self.usage:
            raise ValueError("amount or usage is required")
        # Other problems of a usage block are the pricer's to name (``unpriced``); a negative
        # count is never usage, so it is refused rather than priced as if it were 0.
        for key, value in (self.usage or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"usage {key!r} must not be negative")
        if self.amount is not None and self.currency is None:
            raise ValueError("currency is required with amount")
        if self.unit is not None and self.customer is None and self.customer_id is None:
            raise ValueError("unit needs customer or customer_id: a unit is a customer's")
        return self


class EventIn(_Item):
    """One generic metering event."""

    type: Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)]
    unit: Ref | None = Field(None, description=_UNIT_HELP)
    data: dict[str, Any] = Field(default_factory=dict)

    free_form: ClassVar[tuple[str, ...]] = ("data",)


class SignalBatch(BaseModel):
    """Several signals, each answered on its own."""

    items: Annotated[list[SignalIn], Field(min_length=1, max_length=10_000)]


class CostBatch(BaseModel):
    """Several costs, each answered on its own."""

    items: Annotated[list[CostIn], Field(min_length=1, max_length=10_000)]


class EventBatch(BaseModel):
    """Several events, each answered on its own."""

    items: Annotated[list[EventIn], Field(min_length=1, max_length=10_000)]


#: Request bodies: one item, or a batch.
SignalBody = SignalIn | SignalBatch
CostBody = CostIn | CostBatch
EventBody = EventIn | EventBatch
