"""Meter definitions: what to measure on generic events, and how to aggregate it.

A meter reads events of one ``event_type``; ``value_property`` (JSONPath) picks the value,
``aggregation`` combines values, ``group_by`` names dimensions (dimension → JSONPath). A
``cost`` meter turns its quantity into money (quantity × ``unit_cost`` in ``currency``); a
``billable`` meter feeds usage charges of plans. Several meters may read one event type.

A cost meter aggregates by ``sum`` or ``count``: its cost is the sum of its events' costs
(value × unit cost, or the unit cost for each event), each rounded half-even to the
nano-unit, so the cost of any stretch of time is the sum of the costs of its parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Connection, delete, select, update

from margin._currency import CurrencyCode
from margin._ids import new_id
from margin._money import format_decimal, storable_amount, to_nanos
from margin._storable import Storable
from margin._time import isoformat, now_micros
from margin.billing.errors import BillingError
from margin.billing.jsonpath import JsonPathError, compile_path
from margin.store.schema import meters, plans
from margin.store.schema_control import features

__all__ = [
    "Aggregation",
    "MeterIn",
    "MeterStore",
    "create_meter",
    "delete_meter",
    "event_cost",
    "get_meter",
    "render_meter",
    "replace_meter",
    "unit_cost",
]

Aggregation = Literal["sum", "count", "unique_count", "avg", "min", "max", "latest"]
Dimension = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
# "customer" is a built-in dimension of every meter query.
_RESERVED = {"customer"}
#: The width of the stored unit cost (``meters.unit_cost``).
_UNIT_COST_MAX = 64


def _check_path(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        compile_path(value)
    except JsonPathError as exc:
        raise ValueError(str(exc)) from None
    return value


class MeterIn(Storable):
    """A meter as the API accepts it (create and full replace)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    name: Annotated[str, Field(max_length=256)] | None = None
    event_type: Annotated[str, Field(min_length=1, max_length=256)]
    value_property: Annotated[str, Field(max_length=512)] | None = None
    aggregation: Aggregation
    group_by: dict[Dimension, Annotated[str, Field(max_length=512)]] = Field(default_factory=dict)
    kind: Literal["cost", "billable"] = "billable"
    unit_cost: str | None = None
    currency: CurrencyCode | None = None

    @field_validator("value_property")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return _check_path(value)

    @field_validator("group_by")
    @classmethod
    def _paths(cls, value: dict[str, str]) -> dict[str, str]:
        for dim, path in value.items():
            if dim in _RESERVED:
                raise ValueError(f"'{dim}' is a reserved dimension")
            _check_path(path)
        return value

    @field_validator("unit_cost", mode="before")
    @classmethod
    def _decimal(cls, value: Any) -> Any:
        if value is None:
            return None
        text = format_decimal(storable_amount(value, "unit_cost"))
        if len(text) > _UNIT_COST_MAX:  # the column's width: PostgreSQL refuses a longer one
            raise ValueError(f"at most {_UNIT_COST_MAX} characters as a plain decimal")
        return text

    @model_validator(mode="after")
    def _consistent(self) -> MeterIn:
        if self.aggregation == "count" and self.value_property is not None:
            raise ValueError("value_property: a count meter takes no value_property")
        if self.aggregation != "count" and self.value_property is None:
            raise ValueError(f"value_property: required by aggregation '{self.aggregation}'")
        if self.kind == "cost" and (self.unit_cost is None or self.currency is None):
            raise ValueError("unit_cost: a cost meter needs unit_cost and currency")
        if self.kind == "cost" and self.aggregation not in ("sum", "count"):
            raise ValueError(
                "aggregation: a cost meter sums its events' costs: use 'sum' or 'count'"
            )
        if self.kind == "billable" and self.unit_cost is not None:
            raise ValueError("unit_cost: only cost meters carry a unit cost")
        if self.value_property is not None and self.value_property in self.group_by.values():
            raise ValueError("group_by: a dimension may not read the value_property")
        return self


def render_meter(row: dict[str, Any]) -> dict[str, Any]:
    """The API shape of a stored meter."""
    out = {k: v for k, v in row.items() if k != "org_id"}
    out["created_at"] = isoformat(row["created_at"])
    out["updated_at"] = isoformat(row["updated_at"])
    return out


def unit_cost(row: Mapping[str, Any]) -> Decimal | None:
    """The unit cost of a cost meter, exactly."""
    return Decimal(row["unit_cost"]) if row.get("unit_cost") is not None else None


def event_cost(meter: Mapping[str, Any], number: Decimal | None) -> int:
    """The cost of one event a cost meter reads, in nano-units of the meter's currency: its
    value × the unit cost (each event costs the unit cost for a ``count`` meter)."""
    rate = unit_cost(meter) or Decimal(0)
    if meter["aggregation"] == "count":
        return to_nanos(rate)
    return to_nanos((number or Decimal(0)) * rate)


class MeterStore:
    """Meters of one organization."""

    def __init__(self, conn: Connection, org_id: str) -> None:
        self.conn = conn
        self.org_id = org_id

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            select(meters).where(meters.c.org_id == self.org_id, meters.c.key == key)
        ).first()
        return dict(row._mapping) if row else None

    def list(self, event_type: str | None = None) -> list[dict[str, Any]]:
        query = select(meters).where(meters.c.org_id == self.org_id)
        if event_type is not None:
            query = query.where(meters.c.event_type == event_type)
        return [dict(r._mapping) for r in self.conn.execute(query.order_by(meters.c.key))]

    def create(self, spec: MeterIn) -> dict[str, Any]:
        now = now_micros()
        row = {"id": new_id("mtr"), "org_id": self.org_id, **spec.model_dump()}
        row.update(created_at=now, updated_at=now)
        self.conn.execute(meters.insert().values(**row))
        return row

    def replace(self, key: str, spec: MeterIn) -> dict[str, Any] | None:
        values = {**spec.model_dump(), "updated_at": now_micros()}
        values.pop("key")
        self.conn.execute(
            update(meters)
            .where(meters.c.org_id == self.org_id, meters.c.key == key)
            .values(**values)
        )
        return self.get(key)

    def delete(self, key: str) -> bool:
        result = self.conn.execute(
            delete(meters).where(meters.c.org_id == self.org_id, meters.c.key == key)
        )
        return bool(result.rowcount)


def get_meter(conn: Connection, org_id: str, key: str) -> dict[str, Any]:
    """A meter by key; raises ``BillingError`` (404) when missing."""
    row = MeterStore(conn, org_id).get(key)
    if row is None:
        raise BillingError(404, f"no meter '{key}'", "key")
    return row


def create_meter(conn: Connection, org_id: str, spec: MeterIn) -> dict[str, Any]:
    """Store a meter; raises ``BillingError`` (409) when its key is taken."""
    store = MeterStore(conn, org_id)
    if store.get(spec.key) is not None:
        raise BillingError(409, f"a meter '{spec.key}' exists", "key")
    return store.create(spec)


#: A meter that burns credits adds up per event: each event's share is known when it arrives
#: (the rule ``margin.control`` applies when such a feature is created).
BURNING_AGGREGATIONS = ("sum", "count")


def _in_use(key: str, user: str) -> BillingError:
    return BillingError(409, f"key: the meter '{key}' is used by {user}", "key")


def _plan_using(conn: Connection, org_id: str, key: str) -> str | None:
    rows = conn.execute(select(plans.c.key, plans.c.charges).where(plans.c.org_id == org_id))
    for plan in rows:
        if any(charge["meter"] == key for charge in plan.charges.get("usage") or []):
            return str(plan.key)
    return None


def _features_using(conn: Connection, org_id: str, key: str) -> list[Any]:
    query = select(features.c.key, features.c.credit_currency).where(
        features.c.org_id == org_id, features.c.meter_key == key
    )
    return list(conn.execute(query.order_by(features.c.key)))


def _check_replace(conn: Connection, org_id: str, key: str, spec: MeterIn) -> None:
    """A feature burning credits by the meter needs it to keep adding up per event, or the
    burn would stop without a word."""
    if spec.aggregation in BURNING_AGGREGATIONS:
        return
    for feature in _features_using(conn, org_id, key):
        if feature.credit_currency is not None:
            user = f"the feature '{feature.key}', which burns credits by a sum or count"
            raise _in_use(key, user)


def _check_delete(conn: Connection, org_id: str, key: str) -> None:
    """A plan's usage charge or a feature reading the meter would stop without a word."""
    plan = _plan_using(conn, org_id, key)
    if plan is not None:
        raise _in_use(key, f"a usage charge of the plan '{plan}'")
    for feature in _features_using(conn, org_id, key):
        raise _in_use(key, f"the feature '{feature.key}'")


def replace_meter(conn: Connection, org_id: str, key: str, spec: MeterIn) -> dict[str, Any]:
    """Replace a meter's definition (its key stays); raises ``BillingError`` (409) when a
    feature burning credits by it would stop burning."""
    if spec.key != key:
        raise BillingError(422, "key: the body's key must match the path", "key")
    get_meter(conn, org_id, key)
    _check_replace(conn, org_id, key, spec)
    replaced = MeterStore(conn, org_id).replace(key, spec)
    assert replaced is not None
    return replaced


def delete_meter(conn: Connection, org_id: str, key: str) -> None:
    """Delete a meter; raises ``BillingError`` (404) when missing, (409) while a plan or a
    feature reads it."""
    get_meter(conn, org_id, key)
    _check_delete(conn, org_id, key)
    if not MeterStore(conn, org_id).delete(key):
        raise BillingError(404, f"no meter '{key}'", "key")
