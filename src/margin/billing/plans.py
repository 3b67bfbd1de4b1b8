"""Plans: what is sold — outcome prices, recurring fees, usage charges on billable meters and
a minimum commitment, in one currency, optionally on one agent — and the services that
create and read them (the API, the CLI and the demo call these).

Charges are stored as a JSON document with decimal strings (``margin.billing.plan_charges``
accepts them); ``margin.billing.overrides`` applies an order's price overrides to them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from margin._calendar import load_zone
from margin._currency import CurrencyCode
from margin._ids import new_id
from margin._money import MoneyError, parse_amount, to_nanos
from margin._storable import Quantity, Storable
from margin._time import isoformat, now_micros
from margin.billing.errors import BillingError
from margin.billing.overrides import apply_overrides, effective_charges
from margin.billing.plan_charges import (
    CREDIT_NAME,
    FeeIn,
    Key,
    Optional,
    OutcomeIn,
    Strict,
    UsageIn,
)
from margin.store.directory import AGENTS
from margin.store.schema import meters, plans
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
    "check_meters",
    "create_plan",
    "effective_charges",
    "get_plan",
    "list_plans",
    "render_plan",
]


class EntitlementIn(Storable):
    """Access to a feature (``margin.control``): given to a customer directly, or carried by
    a plan so that every order of it grants it while the order is in force."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    feature: Annotated[str, Field(min_length=1, max_length=128)]
    kind: Literal["boolean", "static", "metered"] = "metered"
    config: dict[str, Any] = Field(default_factory=dict)
    limit: Quantity | None = None
    period: Literal["day", "week", "month"] = "month"
    time_zone: Annotated[str, Field(max_length=64)] = "UTC"
    hard: bool = True


class PlanIn(Strict):
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
    check_meters(conn, org_id, spec.usage)
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


def check_meters(conn: Connection, org_id: str, usage: list[UsageIn]) -> None:
    """A usage charge reads a meter that exists: one that does not would bill nothing."""
    wanted = {charge.meter for charge in usage}
    known = set(
        conn.execute(
            select(meters.c.key).where(meters.c.org_id == org_id, meters.c.key.in_(wanted))
        ).scalars()
    )
    for position, charge in enumerate(usage):
        if charge.meter not in known:
            field = f"usage.{position}.meter"
            raise BillingError(422, f"{field}: no meter '{charge.meter}'", field)


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
