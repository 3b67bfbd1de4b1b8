"""The charges a plan is made of, as the API accepts them: outcome prices, recurring fees and
usage charges, each amount a decimal string (``margin.billing.plans`` holds the plan)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from margin._money import MoneyError, format_decimal, parse_amount, to_nanos
from margin._storable import Storable
from margin.billing.charges import validate_tiers

__all__ = [
    "CREDIT_NAME",
    "STORED",
    "Amount",
    "FeeIn",
    "Key",
    "Optional",
    "OutcomeIn",
    "Strict",
    "TierIn",
    "UsageIn",
    "money",
]

Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


def money(value: Any, *, negative: bool = False, whole_nanos: bool = True) -> str:
    """An amount as its normalised decimal string; raises ``ValueError``. With
    ``whole_nanos``, an amount that is not 0 but rounds to 0 nano-units is refused: it
    would bill 0."""
    try:
        amount = parse_amount(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if amount < 0 and not negative:
        raise ValueError("amount must not be negative")
    nanos = to_nanos(amount)  # refuses amounts too large to store exactly
    if whole_nanos and nanos == 0 and amount != 0:
        raise ValueError("amount is below the smallest storable amount 0.000000001 (one nano-unit)")
    return format_decimal(amount)


#: Validation context of a charge read back from storage: an amount under a nano-unit,
#: stored before such amounts were refused, is read as it was (a refusal would fail the read).
STORED = {"stored": True}


def _whole(info: ValidationInfo) -> bool:
    return not (info.context or {}).get("stored")


def _amount(value: Any, info: ValidationInfo) -> str:
    return money(value, whole_nanos=_whole(info))


def _signed(value: Any, info: ValidationInfo) -> str:
    return money(value, negative=True, whole_nanos=_whole(info))


def _optional(value: Any, info: ValidationInfo) -> str | None:
    return None if value is None else _amount(value, info)


def _optional_signed(value: Any, info: ValidationInfo) -> str | None:
    return None if value is None else _signed(value, info)


Amount = Annotated[str, BeforeValidator(_amount), Field(description="A decimal string ≥ 0.")]
Signed = Annotated[str, BeforeValidator(_signed), Field(description="A decimal string.")]
Optional = Annotated[str | None, BeforeValidator(_optional)]


class Strict(Storable):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


#: A custom credit currency (``meetings``); money credits pay invoices as "Credits applied".
CREDIT_NAME = r"^[a-z][a-z0-9_]{0,31}$"


class OutcomeIn(Strict):
    """A price per signal of one ``event_name``: in money (``price``, negative = rebate), or
    in a credit currency (``credit_price`` credits each, paid from the customer's grants when
    the invoice is finalized; ``overage`` in money for each signal the balance cannot pay)."""

    event_name: Annotated[str, Field(min_length=1, max_length=256)]
    credit_currency: Annotated[str, Field(pattern=CREDIT_NAME)] | None = None
    price: Annotated[
        str | None, BeforeValidator(_optional_signed), Field(validate_default=True)
    ] = None
    credit_price: Annotated[Optional, Field(validate_default=True)] = None
    overage: Annotated[Optional, Field(validate_default=True)] = None
    name: str | None = None

    @field_validator("price", "credit_price", "overage", mode="after")
    @classmethod
    def _paid_in(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Each rule raises on the field it names, so the problem points at it.
        in_credits = info.data.get("credit_currency") is not None
        if info.field_name == "price":
            if in_credits and value is not None:
                raise ValueError("an outcome paid in credits is priced by credit_price")
            if not in_credits and value is None and "credit_currency" in info.data:
                raise ValueError("required")
        elif info.field_name == "credit_price" and in_credits and value is None:
            raise ValueError("required with credit_currency")
        elif not in_credits and value is not None:
            raise ValueError("needs credit_currency")
        return value


class FeeIn(Strict):
    """A recurring fee billed in advance; prorated by days for partial periods."""

    key: Key
    amount: Amount
    interval: Literal["monthly", "yearly"] = "monthly"
    name: str | None = None


class TierIn(Strict):
    up_to: Optional = None
    unit_price: Amount = "0"
    flat_fee: Amount = "0"


class UsageIn(Strict):
    """A usage charge on a billable meter under one charge model."""

    key: Key
    meter: Key
    model: Literal["per_unit", "graduated", "volume", "package", "percentage"]
    name: str | None = None
    unit_price: Optional = None
    tiers: list[TierIn] | None = None
    package_size: Optional = None
    package_price: Optional = None
    rate: Optional = None
    min_per_event: Optional = None
    max_per_event: Optional = None

    @model_validator(mode="after")
    def _fields_of_model(self) -> UsageIn:
        need = {
            "per_unit": ["unit_price"],
            "graduated": ["tiers"],
            "volume": ["tiers"],
            "package": ["package_size", "package_price"],
            "percentage": ["rate"],
        }[self.model]
        for name in need:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required by model '{self.model}'")
        if self.tiers is not None:
            validate_tiers([t.model_dump() for t in self.tiers])
        if self.package_size is not None and Decimal(self.package_size) <= 0:
            raise ValueError("package_size: must be positive")
        low, high = self.min_per_event, self.max_per_event
        if low is not None and high is not None and Decimal(low) > Decimal(high):
            raise ValueError("min_per_event: must not exceed max_per_event")
        return self
