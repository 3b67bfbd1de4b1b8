"""Plans: what is sold — outcome prices, recurring fees, usage charges on billable meters and
a minimum commitment, in one currency, optionally on one agent — and the services that
create and read them (the API, the CLI and the demo call these).

Charges are stored as a JSON document with decimal strings; ``apply_overrides`` applies an
order's price overrides to a plan's charges.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from margin._calendar import load_zone
from margin._currency import CurrencyCode
from margin._ids import new_id
from margin._money import MoneyError, format_decimal, parse_amount, to_nanos
from margin._time import isoformat, now_micros
from margin.billing.charges import validate_tiers
from margin.billing.errors import BillingError
from margin.store.directory import AGENTS
from margin.store.schema import plans
from margin.store.schema_control import features

__all__ = [
    "CREDIT_NAME",
    "EntitlementIn",
    "FeeIn",
    "OutcomeIn",
    "PlanIn",
    "UsageIn",
    "apply_overrides",
    "check_credit_currency",
    "check_entitlement",
    "create_plan",
    "effective_charges",
    "get_plan",
    "list_plans",
    "render_plan",
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


def _optional_signed(value: Any) -> str | None:
    return None if value is None else _signed(value)


Amount = Annotated[str, BeforeValidator(_money), Field(description="A decimal string ≥ 0.")]
Signed = Annotated[str, BeforeValidator(_signed), Field(description="A decimal string.")]
Optional = Annotated[str | None, BeforeValidator(_optional)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


#: A custom credit currency (``meetings``); money credits pay invoices as "Credits applied".
CREDIT_NAME = r"^[a-z][a-z0-9_]{0,31}$"


class OutcomeIn(_Strict):
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


class EntitlementIn(BaseModel):
    """Access to a feature (``margin.control``): given to a customer directly, or carried by
    a plan so that every order of it grants it while the order is in force."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    feature: Annotated[str, Field(min_length=1, max_length=128)]
    kind: Literal["boolean", "static", "metered"] = "metered"
    config: dict[str, Any] = Field(default_factory=dict)
    limit: str | int | None = None
    period: Literal["day", "week", "month"] = "month"
    time_zone: Annotated[str, Field(max_length=64)] = "UTC"
    hard: bool = True


class PlanIn(_Strict):
    """A plan as the API accepts it."""

    key: Key
    name: Annotated[str, Field(max_length=256)] | None = None
    agent: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    currency: CurrencyCode
    outcomes: list[OutcomeIn] = Field(default_factory=list)
    fees: list[FeeIn] = Field(default_factory=list)
    usage: list[UsageIn] = Field(default_factory=list)
    minimum: Optional = None
    #: Granted by every order of the plan while it is in force (a customer's own
    #: entitlement to the same feature takes precedence).
    entitlements: list[EntitlementIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> PlanIn:
        for name, keys in (
            ("outcomes", [o.event_name for o in self.outcomes]),
            ("fees", [f.key for f in self.fees]),
            ("usage", [u.key for u in self.usage]),
            ("entitlements", [e.feature for e in self.entitlements]),
        ):
            if len(set(keys)) != len(keys):
                raise ValueError(f"{name}: keys must be unique")
        return self

    def charges(self) -> dict[str, Any]:
        out = self.model_dump(include={"outcomes", "fees", "usage", "minimum", "entitlements"})
        # A money outcome keeps its stored shape; a credit-priced one has no money price.
        for outcome in out["outcomes"]:
            for name in ("price", "credit_currency", "credit_price", "overage"):
                if outcome[name] is None:
                    del outcome[name]
        return out


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
            if index[key].get("credit_currency"):
                raise ValueError(f"overrides.{section}.{key}: the outcome is paid in credits")
            index[key][price_field] = _money(value, negative=section == "outcomes")
    usage = overrides.get("usage") or {}
    if not isinstance(usage, dict):
        raise ValueError("overrides.usage: must be an object")
    for position, charge in enumerate(out["usage"]):
        if charge["key"] in usage:
            patch = usage[charge["key"]]
            if not isinstance(patch, dict):
                raise ValueError(f"overrides.usage.{charge['key']}: must be an object")
            try:
                merged = UsageIn.model_validate({**charge, **patch})
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(part) for part in error["loc"])
                prefix = f"overrides.usage.{charge['key']}" + (f".{where}" if where else "")
                raise ValueError(f"{prefix}: {error['msg']}") from None
            out["usage"][position] = merged.model_dump()
    unknown = set(usage) - {c["key"] for c in out["usage"]}
    if unknown:
        raise ValueError(f"overrides.usage.{sorted(unknown)[0]}: the plan has no such charge")
    return out


def effective_charges(plan: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    """The charges an order bills: its plan's, with the order's overrides (the plan's own
    document, not a copy, when there are none: callers read charges, never change them)."""
    if not order["overrides"]:
        return plan["charges"]  # type: ignore[no-any-return]
    return apply_overrides(plan["charges"], order["overrides"])


def render_plan(row: dict[str, Any]) -> dict[str, Any]:
    """The API shape of a stored plan: its columns with the charges inlined."""
    out = {k: v for k, v in row.items() if k not in ("org_id", "charges")}
    out.update(row["charges"])
    out["created_at"] = isoformat(row["created_at"])
    out["updated_at"] = isoformat(row["updated_at"])
    return out


def create_plan(
    conn: Connection, org_id: str, spec: PlanIn, *, now: int | None = None
) -> dict[str, Any]:
    """Store a plan; raises ``BillingError`` for an unknown agent or feature, a credit
    currency that a feature burns, or a taken key."""
    for position, entitlement in enumerate(spec.entitlements):
        check_entitlement(conn, org_id, entitlement, f"entitlements.{position}")
    for position, outcome in enumerate(spec.outcomes):
        if outcome.credit_currency is not None:
            check_credit_currency(conn, org_id, outcome.credit_currency, position)
    agent_id = None
    if spec.agent is not None:
        found = AGENTS.resolve(conn, org_id, [spec.agent], create=False)
        if spec.agent not in found:
            raise BillingError(422, f"agent: no agent '{spec.agent}'", "agent")
        agent_id = found[spec.agent]
    stamp = now_micros() if now is None else now
    row = {
        "id": new_id("plan"),
        "org_id": org_id,
        "key": spec.key,
        "name": spec.name,
        "agent_id": agent_id,
        "currency": spec.currency,
        "charges": spec.charges(),
        "created_at": stamp,
        "updated_at": stamp,
    }
    if get_plan(conn, org_id, spec.key, missing_ok=True) is not None:
        raise BillingError(409, f"a plan '{spec.key}' exists", "key")
    try:
        with conn.begin_nested():
            conn.execute(plans.insert().values(**row))
    except IntegrityError:
        raise BillingError(409, f"a plan '{spec.key}' exists", "key") from None
    return row


def check_credit_currency(conn: Connection, org_id: str, currency: str, position: int) -> None:
    """An outcome paid in a credit currency that a feature also burns at ingest would spend
    the same signal twice: such a plan is refused (and such a feature, while a plan prices
    in that currency)."""
    burner = conn.execute(
        select(features.c.key).where(
            features.c.org_id == org_id, features.c.credit_currency == currency
        )
    ).first()
    if burner is not None:
        field = f"outcomes.{position}.credit_currency"
        reason = f"the feature '{burner.key}' burns '{currency}' at ingest"
        raise BillingError(422, f"{field}: {reason}", field)


def check_entitlement(
    conn: Connection, org_id: str, spec: EntitlementIn, at: str = ""
) -> dict[str, Any]:
    """What an entitlement names must exist, a limit belongs to a metered one and is not
    negative, its zone is known: one rule for a customer's own and a plan's, refused with
    the same problem (422 naming the field, under ``at`` for a plan's). Returns the feature."""

    def refuse(name: str, reason: str) -> BillingError:
        field = f"{at}.{name}" if at else name
        return BillingError(422, f"{field}: {reason}", field)

    found = conn.execute(
        select(features).where(features.c.org_id == org_id, features.c.key == spec.feature)
    ).first()
    if found is None:
        raise refuse("feature", f"no feature '{spec.feature}'")
    if spec.kind == "metered" and found.backed_by == "none":
        raise refuse("kind", "a metered entitlement needs a measured feature")
    if spec.kind != "metered" and spec.limit is not None:
        raise refuse("limit", "only a metered entitlement has a limit")
    try:
        if spec.limit is not None and to_nanos(parse_amount(spec.limit)) < 0:
            raise MoneyError("must not be negative")
    except MoneyError as exc:
        raise refuse("limit", str(exc)) from None
    try:
        load_zone(spec.time_zone)
    except ValueError as exc:
        raise refuse("time_zone", str(exc)) from None
    return dict(found._mapping)


def get_plan(
    conn: Connection, org_id: str, ref: str, *, missing_ok: bool = False
) -> dict[str, Any] | None:
    """A plan by key or id; raises ``BillingError`` (404) when missing unless ``missing_ok``."""
    row = conn.execute(
        select(plans).where(plans.c.org_id == org_id, (plans.c.key == ref) | (plans.c.id == ref))
    ).first()
    if row is None and not missing_ok:
        raise BillingError(404, f"no plan '{ref}'", "plan")
    return dict(row._mapping) if row else None


def list_plans(conn: Connection, org_id: str) -> list[dict[str, Any]]:
    """The organization's plans, by key."""
    rows = conn.execute(select(plans).where(plans.c.org_id == org_id).order_by(plans.c.key))
    return [dict(r._mapping) for r in rows]
