"""REST resources of billing: meters, plans, orders and invoices. Amounts are exact: pass
``Decimal`` or decimal strings, never floats; answers carry decimal strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import IO, Any, Literal, TypeVar

from margin.sdk._operations import Resource, Timestamp, clean, flag, iso, operation

__all__ = ["Invoices", "Meters", "Orders", "Plans"]

_R = TypeVar("_R")
_B = TypeVar("_B")
Aggregation = Literal["sum", "count", "unique_count", "avg", "min", "max", "latest"]
Amount = Decimal | str

_METER_CREATE = operation("POST", "/v1/meters")
_METER_LIST = operation("GET", "/v1/meters")
_METER_GET = operation("GET", "/v1/meters/{key}")
_METER_PUT = operation("PUT", "/v1/meters/{key}")
_METER_DELETE = operation("DELETE", "/v1/meters/{key}")
_METER_QUERY = operation("GET", "/v1/meters/{key}/query")
_PLAN_LIST = operation("GET", "/v1/plans")
_PLAN_CREATE = operation("POST", "/v1/plans")
_PLAN_GET = operation("GET", "/v1/plans/{ref}")
_PLAN_SIMULATE = operation("POST", "/v1/plans/simulate")
_ORDER_CREATE = operation("POST", "/v1/orders")
_ORDER_LIST = operation("GET", "/v1/orders")
_ORDER_GET = operation("GET", "/v1/orders/{order_id}")
_ORDER_END = operation("PATCH", "/v1/orders/{order_id}")
_INVOICE_GENERATE = operation("POST", "/v1/invoices/generate")
_INVOICE_LIST = operation("GET", "/v1/invoices")
_INVOICE_HTML = operation("GET", "/v1/invoices/{invoice_id}.html")
_INVOICE_PDF = operation("GET", "/v1/invoices/{invoice_id}.pdf")
_INVOICE_GET = operation("GET", "/v1/invoices/{invoice_id}")
_INVOICE_FINALIZE = operation("POST", "/v1/invoices/{invoice_id}/finalize")
_INVOICE_VOID = operation("POST", "/v1/invoices/{invoice_id}/void")


def _amount(value: Amount | None, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):  # a binary float cannot carry an exact amount
        raise TypeError(f"{name} must be a Decimal or a decimal string")
    return format(value, "f") if isinstance(value, Decimal) else value


class Meters(Resource[_R, _B]):
    """``/v1/meters``: what metering events measure (billable, or a cost per unit)."""

    def create(
        self,
        key: str,
        event_type: str,
        aggregation: Aggregation,
        *,
        name: str | None = None,
        value_property: str | None = None,
        group_by: Mapping[str, str] | None = None,
        kind: Literal["cost", "billable"] | None = None,
        unit_cost: Amount | None = None,
        currency: str | None = None,
    ) -> _R:
        """Create a meter; ``value_property`` and ``group_by`` values are JSONPaths into the
        event's ``data``; a ``cost`` meter needs ``unit_cost`` and ``currency``."""
        return self._json(_METER_CREATE.call(json=_meter(locals())))

    def list(self, *, event_type: str | None = None) -> _R:
        """Every meter (``{"data": [...]}``), optionally of one event type."""
        return self._json(_METER_LIST.call(params={"event_type": event_type}))

    def get(self, key: str) -> _R:
        """One meter by key."""
        return self._json(_METER_GET.call({"key": key}))

    def replace(
        self,
        key: str,
        event_type: str,
        aggregation: Aggregation,
        *,
        name: str | None = None,
        value_property: str | None = None,
        group_by: Mapping[str, str] | None = None,
        kind: Literal["cost", "billable"] | None = None,
        unit_cost: Amount | None = None,
        currency: str | None = None,
    ) -> _R:
        """Replace the whole meter (PUT; ``key`` cannot change)."""
        return self._json(_METER_PUT.call({"key": key}, json=_meter(locals())))

    def delete(self, key: str) -> _R:
        """Delete a meter (its events stay stored)."""
        return self._json(_METER_DELETE.call({"key": key}))

    def query(
        self,
        key: str,
        from_: Timestamp = None,
        to: Timestamp = None,
        *,
        window: Literal["minute", "hour", "day", "month"] | None = None,
        tz: str | None = None,
        customer: str | Sequence[str] | None = None,
        group_by: Sequence[str] | None = None,
        filters: Mapping[str, str | Sequence[str]] | None = None,
    ) -> _R:
        """The meter's value over a period: total, per ``window`` and per ``group_by``;
        ``filters`` keeps events whose dimension equals one of the values."""
        params: dict[str, Any] = {
            "from": iso(from_),
            "to": iso(to),
            "window": window,
            "tz": tz,
            "customer": [customer] if isinstance(customer, str) else customer,
            "group_by": None if group_by is None else list(group_by),
        }
        for dim, values in (filters or {}).items():
            params[f"filter[{dim}]"] = [values] if isinstance(values, str) else list(values)
        return self._json(_METER_QUERY.call({"key": key}, params=params))


def _meter(fields: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in fields.items() if k != "self"}
    fields["unit_cost"] = _amount(fields["unit_cost"], "unit_cost")
    return clean(fields)


class Plans(Resource[_R, _B]):
    """``/v1/plans``: what customers can buy (outcome prices, fees, usage charges)."""

    def list(self) -> _R:
        """Every plan (``{"data": [...]}``)."""
        return self._json(_PLAN_LIST.call())

    def create(
        self,
        key: str,
        currency: str,
        *,
        name: str | None = None,
        agent: str | None = None,
        outcomes: Sequence[Mapping[str, Any]] | None = None,
        fees: Sequence[Mapping[str, Any]] | None = None,
        usage: Sequence[Mapping[str, Any]] | None = None,
        minimum: Amount | None = None,
    ) -> _R:
        """Create a plan. ``outcomes``: ``{"event_name", "price"}``; ``fees``: ``{"key",
        "amount", "interval"…}``; ``usage``: charges on billable meters (see docs/billing.md)."""
        body = clean(
            {
                "key": key,
                "currency": currency,
                "name": name,
                "agent": agent,
                "outcomes": None if outcomes is None else [dict(o) for o in outcomes],
                "fees": None if fees is None else [dict(f) for f in fees],
                "usage": None if usage is None else [dict(u) for u in usage],
                "minimum": _amount(minimum, "minimum"),
            }
        )
        return self._json(_PLAN_CREATE.call(json=body))

    def get(self, ref: str) -> _R:
        """One plan by id or key."""
        return self._json(_PLAN_GET.call({"ref": ref}))

    def simulate(self, plan: str | Mapping[str, Any], from_: str, **fields: Any) -> _R:
        """Re-rate past periods (``YYYY-MM``) under a candidate plan (a key or id, or a plan
        body) beside the actual figures; stores nothing. ``fields``: ``to``, ``replaces``,
        ``customers``, ``by_currency`` (see docs/billing.md)."""
        body = clean({"plan": plan if isinstance(plan, str) else dict(plan), "from": from_})
        body.update(clean(fields))
        return self._json(_PLAN_SIMULATE.call(json=body))


class Orders(Resource[_R, _B]):
    """``/v1/orders``: a customer's subscription to a plan over a stretch of time."""

    def create(
        self,
        customer: str,
        plan: str,
        starts_at: Timestamp,
        *,
        ends_at: Timestamp = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> _R:
        """Subscribe ``customer`` (external id) to ``plan`` (key) from ``starts_at``;
        ``overrides`` replaces this order's prices."""
        body = clean(
            {
                "customer": customer,
                "plan": plan,
                "starts_at": iso(starts_at),
                "ends_at": iso(ends_at),
                "overrides": None if overrides is None else dict(overrides),
            }
        )
        return self._json(_ORDER_CREATE.call(json=body))

    def list(self, *, customer: str | None = None) -> _R:
        """Every order, optionally of one customer (external id)."""
        return self._json(_ORDER_LIST.call(params={"customer": customer}))

    def get(self, id: str) -> _R:
        """One order by id."""
        return self._json(_ORDER_GET.call({"order_id": id}))

    def end(self, id: str, ends_at: Timestamp) -> _R:
        """Set the order's end (exclusive); ``None`` reopens it."""
        return self._json(_ORDER_END.call({"order_id": id}, json={"ends_at": iso(ends_at)}))


class Invoices(Resource[_R, _B]):
    """``/v1/invoices``: drafts per customer and month, finalized (numbered, immutable) or
    voided."""

    def generate(self, period: str, *, customers: Sequence[str] | None = None) -> _R:
        """Write or refresh the drafts of ``period`` (``YYYY-MM``), for every customer or
        the given external ids."""
        body = clean(
            {"period": period, "customers": None if customers is None else list(customers)}
        )
        return self._json(_INVOICE_GENERATE.call(json=body))

    def list(
        self,
        *,
        period: str | None = None,
        status: Literal["draft", "finalized", "void"] | None = None,
        customer: str | None = None,
        limit: int | None = None,
    ) -> _R:
        """Invoices (``{"data": [...]}``), filtered by period, status and customer."""
        params = {"period": period, "status": status, "customer": customer, "limit": limit}
        return self._json(_INVOICE_LIST.call(params=params))

    def get(self, id: str) -> _R:
        """One invoice with its lines, total, cost and margin."""
        return self._json(_INVOICE_GET.call({"invoice_id": id}))

    def html(self, id: str, *, internal: bool | None = None, sink: IO[bytes] | None = None) -> _B:
        """The printable invoice (UTF-8 HTML bytes); ``internal=True`` adds the seller-only
        cost and margin columns."""
        call = _INVOICE_HTML.call({"invoice_id": id}, params={"internal": flag(internal)})
        return self._raw(call, sink)

    def pdf(self, id: str, *, sink: IO[bytes] | None = None) -> _B:
        """The invoice as PDF bytes (the customer's view), or streamed into ``sink``."""
        return self._raw(_INVOICE_PDF.call({"invoice_id": id}), sink)

    def finalize(self, id: str) -> _R:
        """Finalize a draft: it gets its number and never changes again (irreversible)."""
        return self._json(_INVOICE_FINALIZE.call({"invoice_id": id}))

    def void(self, id: str, reason: str) -> _R:
        """Void an invoice, saying why."""
        return self._json(_INVOICE_VOID.call({"invoice_id": id}, json={"reason": reason}))
