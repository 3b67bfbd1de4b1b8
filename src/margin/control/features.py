"""Features: what an entitlement gives access to, and what its usage is measured by.

A feature is backed by a ``meter`` (its value over the period), by ``signals`` of one event
name (their count), or by ``ai_cost`` in one currency (the sum of the customer's AI costs).
A feature may burn a credit currency: each unit of usage (each signal, each unit of money of
AI cost) takes ``unit_credits`` from the customer's grants in ``credit_currency``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import Connection, select

from margin._ids import new_id
from margin._storable import Quantity, Storable
from margin._time import isoformat
from margin.billing.meters import MeterStore
from margin.control.errors import ControlError
from margin.control.quantities import parse_quantity, render_quantity
from margin.store.schema import plans
from margin.store.schema_control import features

__all__ = [
    "BURNING_AGGREGATIONS",
    "CREDIT_CURRENCY",
    "FeatureIn",
    "create_feature",
    "get_feature",
    "list_features",
    "render_feature",
]

#: A credit currency: an ISO 4217 code (money) or a custom name such as ``meetings``.
CREDIT_CURRENCY = r"^(?:[A-Z]{3}|[a-z][a-z0-9_]{0,31})$"
Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,127}$")]


class FeatureIn(Storable):
    key: Key
    name: Annotated[str, Field(max_length=256)] | None = None
    backed_by: Literal["meter", "signals", "ai_cost", "none"] = "none"
    meter: Key | None = None
    event_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    credit_currency: Annotated[str, Field(pattern=CREDIT_CURRENCY)] | None = None
    unit_credits: Quantity | None = None

    @model_validator(mode="after")
    def _backing(self) -> FeatureIn:
        needed = {"meter": "meter", "signals": "event_name", "ai_cost": "currency"}
        name = needed.get(self.backed_by)
        if name is not None and getattr(self, name) is None:
            raise ValueError(f"a feature backed by {self.backed_by} needs {name}")
        return self


def create_feature(conn: Connection, org_id: str, body: FeatureIn, now: int) -> dict[str, Any]:
    if _row(conn, org_id, body.key) is not None:
        raise ControlError(409, f"a feature '{body.key}' exists", "key")
    unit = None
    if body.credit_currency is not None:
        unit = parse_quantity(
            body.unit_credits if body.unit_credits is not None else 1, "unit_credits"
        )
    elif body.unit_credits is not None:
        raise ControlError(422, "unit_credits: needs credit_currency", "unit_credits")
    if body.credit_currency is not None and body.meter is not None:
        _check_burning_meter(conn, org_id, body.meter)
    if body.credit_currency is not None:
        _check_unpriced(conn, org_id, body.credit_currency)
    row = {
        "id": new_id("fea"),
        "org_id": org_id,
        "key": body.key,
        "name": body.name or body.key,
        "backed_by": body.backed_by,
        "meter_key": body.meter,
        "event_name": body.event_name,
        "currency": body.currency,
        "credit_currency": body.credit_currency,
        "unit_credits_nanos": unit,
        "created_at": now,
    }
    conn.execute(features.insert().values(**row))
    return row


#: A meter that burns credits adds up per event: each event's share is known when it arrives.
BURNING_AGGREGATIONS = ("sum", "count")


def _check_burning_meter(conn: Connection, org_id: str, key: str) -> None:
    """Credits burn as events arrive, so the meter must add up per event (``sum``,
    ``count``); an average or a maximum is only known over a whole period."""
    meter = MeterStore(conn, org_id).get(key)
    if meter is None:
        raise ControlError(422, f"meter: no meter '{key}'", "meter")
    if meter["aggregation"] not in BURNING_AGGREGATIONS:
        detail = f"meter: credits burn by a sum or count meter, not {meter['aggregation']}"
        raise ControlError(422, detail, "meter")


def _check_unpriced(conn: Connection, org_id: str, currency: str) -> None:
    """A currency that a plan's outcomes are paid in is burned when invoices are finalized;
    burning it at ingest too would spend the same signal twice."""
    for plan in conn.execute(select(plans.c.key, plans.c.charges).where(plans.c.org_id == org_id)):
        if any(o.get("credit_currency") == currency for o in plan.charges["outcomes"]):
            detail = f"credit_currency: the plan '{plan.key}' prices outcomes in '{currency}'"
            raise ControlError(422, detail, "credit_currency")


def _row(conn: Connection, org_id: str, key: str) -> dict[str, Any] | None:
    found = conn.execute(
        select(features).where(features.c.org_id == org_id, features.c.key == key)
    ).first()
    return dict(found._mapping) if found else None


def get_feature(conn: Connection, org_id: str, key: str) -> dict[str, Any]:
    row = _row(conn, org_id, key)
    if row is None:
        raise ControlError(404, f"no feature '{key}'", "feature")
    return row


def list_features(conn: Connection, org_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(features).where(features.c.org_id == org_id).order_by(features.c.key)
    )
    return [dict(r._mapping) for r in rows]


def render_feature(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "key": row["key"],
        "name": row["name"],
        "backed_by": row["backed_by"],
        "meter": row["meter_key"],
        "event_name": row["event_name"],
        "currency": row["currency"],
        "credit_currency": row["credit_currency"],
        "unit_credits": render_quantity(row["unit_credits_nanos"]),
        "created_at": isoformat(row["created_at"]),
    }
