"""Plans (what is sold: outcome prices, recurring fees, usage charges, a minimum) and orders
(a customer subscribed to a plan over [starts_at, ends_at), with price overrides).

Charges are stored as a JSON document with decimal strings; ``effective_charges`` applies an
order's overrides to its plan's charges.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from sqlalchemy import Connection, select

from margin._money import MoneyError, format_decimal, parse_amount, to_nanos
from margin.billing.charges import validate_tiers
from margin.store.schema import orders, plans

__all__ = [
    "FeeIn",
    "OrderIn",
    "OutcomeIn",
    "PlanIn",
    "UsageIn",
    "effective_charges",
    "load_orders",
]

Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


def _money(value: Any, *, negative: bool = False) -> str:
    try:
        amount = parse_amount(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if amount < 0 and not negative:
        raise ValueError("amount must not be negative")
    to_nanos(amount)  # refuses amounts too large to store exactly
    return format_decimal(amount)


def _signed(value: Any) -> str:
    return _money(value, negative=True)


def _optional(value: Any) -> str | None:
    return None if value is None else _money(value)


Amount = Annotated[str, BeforeValidator(_money), Field(description="A decimal string ≥ 0.")]
Signed = Annotated[str, BeforeValidator(_signed), Field(description="A decimal string.")]
Optional = Annotated[str | None, BeforeValidator(_optional)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutcomeIn(_Strict):
    """A price per signal of one ``event_name`` (negative = rebate)."""

    event_name: Annotated[str, Field(min_length=1, max_length=256)]
    price: Signed
    name: str | None = None


class FeeIn(_Strict):
    """A recurring fee billed in advance; prorated by days for partial periods."""

    key: Key
    amount: Amount
    interval: Literal["monthly", "yearly"] = "monthly"
    name: str | None = None


class TierIn(_Strict):
    up_to: Optional = None
    unit_price: Amount = "0"
    flat_fee: Amount = "0"


class UsageIn(_Strict):
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


class PlanIn(_Strict):
    """A plan as the API accepts it."""

    key: Key
    name: Annotated[str, Field(max_length=256)] | None = None
    agent: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    outcomes: list[OutcomeIn] = Field(default_factory=list)
    fees: list[FeeIn] = Field(default_factory=list)
    usage: list[UsageIn] = Field(default_factory=list)
    minimum: Optional = None

    @model_validator(mode="after")
    def _unique(self) -> PlanIn:
        for name, keys in (
            ("outcomes", [o.event_name for o in self.outcomes]),
            ("fees", [f.key for f in self.fees]),
            ("usage", [u.key for u in self.usage]),
        ):
            if len(set(keys)) != len(keys):
                raise ValueError(f"{name}: keys must be unique")
        return self

    def charges(self) -> dict[str, Any]:
        return self.model_dump(include={"outcomes", "fees", "usage", "minimum"})


class OrderIn(_Strict):
    """A customer's subscription to a plan; ``overrides`` replace prices of this order:
    ``{"outcomes": {event_name: price}, "fees": {key: amount}, "usage": {key: {field: v}},
    "minimum": amount}``."""

    customer: Annotated[str, Field(min_length=1, max_length=256)]
    plan: Key
    starts_at: str
    ends_at: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)


def apply_overrides(charges: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Charges with an order's overrides applied; raises ``ValueError`` naming the field."""
    out = copy.deepcopy(charges)
    for section in overrides:
        if section not in ("outcomes", "fees", "usage", "minimum"):
            raise ValueError(f"overrides.{section}: unknown section")
    if "minimum" in overrides:
        value = overrides["minimum"]
        out["minimum"] = None if value is None else _money(value)
    for section, id_field, price_field in (
        ("outcomes", "event_name", "price"),
        ("fees", "key", "amount"),
    ):
        given = overrides.get(section) or {}
        if not isinstance(given, dict):
            raise ValueError(f"overrides.{section}: must be an object")
        index = {c[id_field]: c for c in out[section]}
        for key, value in given.items():
            if key not in index:
                raise ValueError(f"overrides.{section}.{key}: the plan has no such charge")
            index[key][price_field] = _money(value, negative=section == "outcomes")
    usage = overrides.get("usage") or {}
    if not isinstance(usage, dict):
        raise ValueError("overrides.usage: must be an object")
    for position, charge in enumerate(out["usage"]):
        if charge["key"] in usage:
            patch = usage[charge["key"]]
            if not isinstance(patch, dict):
                raise ValueError(f"overrides.usage.{charge['key']}: must be an object")
            merged = UsageIn.model_validate({**charge, **patch})
            out["usage"][position] = merged.model_dump()
    unknown = set(usage) - {c["key"] for c in out["usage"]}
    if unknown:
        raise ValueError(f"overrides.usage.{sorted(unknown)[0]}: the plan has no such charge")
    return out


def effective_charges(plan: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    """The charges an order bills: its plan's, with the order's overrides."""
    return apply_overrides(plan["charges"], order["overrides"])


def load_orders(
    conn: Connection, org_id: str, customer_id: str | None = None
) -> list[dict[str, Any]]:
    """Orders of an organization (or one customer) joined with their plan, oldest first.

    Each item holds the order's columns plus ``plan`` (the plan row) and ``charges``.
    """
    stmt = (
        select(orders, plans.c.key.label("plan_key"))
        .join(plans, plans.c.id == orders.c.plan_id)
        .where(orders.c.org_id == org_id)
    )
    if customer_id is not None:
        stmt = stmt.where(orders.c.customer_id == customer_id)
    rows = [dict(r._mapping) for r in conn.execute(stmt.order_by(orders.c.created_at, orders.c.id))]
    plan_rows = (
        {
            r.id: dict(r._mapping)
            for r in conn.execute(select(plans).where(plans.c.id.in_({r["plan_id"] for r in rows})))
        }
        if rows
        else {}
    )
    for row in rows:
        row["plan"] = plan_rows[row["plan_id"]]
        row["charges"] = effective_charges(row["plan"], row)
    return rows


def active(order: dict[str, Any], ts_us: int) -> bool:
    """Whether an order is in force at ``ts_us``."""
    return bool(
        order["starts_at"] <= ts_us and (order["ends_at"] is None or ts_us < order["ends_at"])
    )


def outcome_price(
    candidates: list[dict[str, Any]],
    customer_id: str,
    agent_id: str | None,
    event_name: str,
    ts_us: int,
) -> tuple[dict[str, Any], Decimal] | None:
    """The first order in force for the customer whose plan (on this agent, or on any agent)
    prices ``event_name``, and that price; None when the signal is not billable."""
    for order in candidates:
        if order["customer_id"] != customer_id or not active(order, ts_us):
            continue
        plan_agent = order["plan"]["agent_id"]
        if plan_agent is not None and plan_agent != (agent_id or None):
            continue
        for outcome in order["charges"]["outcomes"]:
            if outcome["event_name"] == event_name:
                return order, Decimal(outcome["price"])
    return None
