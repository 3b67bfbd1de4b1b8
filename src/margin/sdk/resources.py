"""REST resources, written once for both clients: each method describes a ``Call`` and hands
it to the client's ``send``, which returns a dict (``Margin``) or an awaitable (``AsyncMargin``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from margin.sdk._http import Call, new_idempotency_key

__all__ = ["Agents", "Costs", "Customers", "Events", "Reports", "Signals", "Traces"]

_R = TypeVar("_R")
Timestamp = datetime | str | None


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _keyed(item: Mapping[str, Any]) -> dict[str, Any]:
    """Copy an ingest item and give it an idempotency key now, before the first attempt,
    so every retry of the same item carries the same key."""
    out = _clean(item)
    if not out.get("idempotency_key"):
        out["idempotency_key"] = new_idempotency_key()
    return out


def _batch(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"items": [_keyed(item) for item in items]}


class _Resource(Generic[_R]):
    def __init__(self, send: Callable[[Call], _R]) -> None:
        self._send = send


class _Objects(_Resource[_R]):
    _path = ""

    def get(self, id: str) -> _R:
        """Fetch one object by its Margin id."""
        return self._send(Call("GET", f"{self._path}/{quote(id, safe='')}"))

    def get_by_external_id(self, external_id: str) -> _R:
        """Fetch one object by your own external id."""
        return self._send(Call("GET", f"{self._path}/external/{quote(external_id, safe='')}"))

    def list(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        external_id: str | None = None,
        include_archived: bool | None = None,
    ) -> _R:
        """One page: ``{"data": [...], "next_cursor": str | None}``."""
        params = _clean(
            {
                "limit": limit,
                "cursor": cursor,
                "external_id": external_id,
                "include_archived": None
                if include_archived is None
                else str(include_archived).lower(),
            }
        )
        return self._send(Call("GET", self._path, params=params))

    def update(self, id: str, **fields: Any) -> _R:
        """Change the given fields (PATCH)."""
        return self._send(Call("PATCH", f"{self._path}/{quote(id, safe='')}", json=fields))

    def archive(self, id: str) -> _R:
        """Archive the object; it is returned with ``archived_at`` set."""
        return self._send(Call("DELETE", f"{self._path}/{quote(id, safe='')}"))


class Customers(_Objects[_R]):
    """``/v1/customers``: who pays."""

    _path = "/v1/customers"

    def create(
        self,
        external_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        currency: str | None = None,
        tracking_mode: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> _R:
        """Create the customer, or return the existing one with this external id (upsert)."""
        body = _clean(
            {
                "external_id": external_id,
                "name": name,
                "email": email,
                "currency": currency,
                "tracking_mode": tracking_mode,
                "metadata": metadata,
            }
        )
        return self._send(Call("POST", self._path, json=body))


class Agents(_Objects[_R]):
    """``/v1/agents``: what is sold."""

    _path = "/v1/agents"

    def create(
        self,
        external_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        tracking_mode: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> _R:
        """Create the agent, or return the existing one with this external id (upsert)."""
        body = _clean(
            {
                "external_id": external_id,
                "name": name,
                "description": description,
                "tracking_mode": tracking_mode,
                "metadata": metadata,
            }
        )
        return self._send(Call("POST", self._path, json=body))


class Signals(_Resource[_R]):
    """``/v1/signals``: business outcomes."""

    def create(
        self,
        event_name: str,
        *,
        customer: str | None = None,
        customer_id: str | None = None,
        agent: str | None = None,
        agent_id: str | None = None,
        timestamp: Timestamp = None,
        data: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        cost_tracing: bool = False,
    ) -> _R:
        """Record one signal; returns the ingest result (``ingested``, ``duplicates``, …)."""
        item = _keyed(
            {
                "event_name": event_name,
                "customer": customer,
                "customer_id": customer_id,
                "agent": agent,
                "agent_id": agent_id,
                "timestamp": timestamp,
                "data": data,
                "idempotency_key": idempotency_key,
                "trace_id": trace_id,
                "cost_tracing": cost_tracing,
            }
        )
        return self._send(Call("POST", "/v1/signals", json=item))

    def create_batch(self, items: Iterable[Mapping[str, Any]]) -> _R:
        """Record many signals in one request; per-item results come back in ``items``."""
        return self._send(Call("POST", "/v1/signals", json=_batch(items)))

    def get(self, id: str) -> _R:
        """Fetch one signal by id."""
        return self._send(Call("GET", f"/v1/signals/{quote(id, safe='')}"))


class Costs(_Resource[_R]):
    """``/v1/costs``: AI and provider costs reported directly (not via traces)."""

    def create(
        self,
        *,
        customer: str | None = None,
        customer_id: str | None = None,
        agent: str | None = None,
        agent_id: str | None = None,
        amount: Decimal | None = None,
        currency: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        operation: str | None = None,
        usage: Mapping[str, Any] | None = None,
        timestamp: Timestamp = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> _R:
        """Record one cost; ``amount`` (exact Decimal) or ``usage`` for the server to price."""
        if amount is not None and not isinstance(amount, Decimal):
            raise TypeError("amount must be a decimal.Decimal")
        item = _keyed(
            {
                "customer": customer,
                "customer_id": customer_id,
                "agent": agent,
                "agent_id": agent_id,
                "amount": amount,
                "currency": currency,
                "provider": provider,
                "model": model,
                "operation": operation,
                "usage": usage,
                "timestamp": timestamp,
                "trace_id": trace_id,
                "span_id": span_id,
                "idempotency_key": idempotency_key,
            }
        )
        return self._send(Call("POST", "/v1/costs", json=item))

    def create_batch(self, items: Iterable[Mapping[str, Any]]) -> _R:
        """Record many costs in one request."""
        return self._send(Call("POST", "/v1/costs", json=_batch(items)))


class Events(_Resource[_R]):
    """``/v1/events``: generic metering events."""

    def create(
        self,
        type: str,
        *,
        customer: str | None = None,
        customer_id: str | None = None,
        data: Mapping[str, Any] | None = None,
        timestamp: Timestamp = None,
        idempotency_key: str | None = None,
    ) -> _R:
        """Record one metering event."""
        item = _keyed(
            {
                "type": type,
                "customer": customer,
                "customer_id": customer_id,
                "data": data,
                "timestamp": timestamp,
                "idempotency_key": idempotency_key,
            }
        )
        return self._send(Call("POST", "/v1/events", json=item))

    def create_batch(self, items: Iterable[Mapping[str, Any]]) -> _R:
        """Record many metering events in one request."""
        return self._send(Call("POST", "/v1/events", json=_batch(items)))


class Reports(_Resource[_R]):
    """``/v1/reports``: cost, revenue and margin aggregates."""

    def summary(self, from_: Timestamp, to: Timestamp, group_by: str = "customer") -> _R:
        """Totals per ``customer``, ``agent``, ``event_name``, ``model`` or ``provider``."""
        params = _clean({"from": _iso(from_), "to": _iso(to), "group_by": group_by})
        return self._send(Call("GET", "/v1/reports/summary", params=params))


class Traces(_Resource[_R]):
    """``/v1/traces/{trace_id}``: one trace's spans, costs and signals."""

    def get(self, trace_id: str) -> _R:
        """Fetch one trace by its 32-hex id."""
        return self._send(Call("GET", f"/v1/traces/{quote(trace_id, safe='')}"))


def _iso(value: Timestamp) -> str | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.isoformat()
    return value
