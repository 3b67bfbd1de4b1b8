"""REST resources of the facts ingested (signals, costs, metering events); customers and
agents are in ``margin.sdk.parties``. Written once for both clients: each method describes a
``Call`` of one declared ``Operation`` and hands it to the client's transport, which answers
a dict (``Margin``) or an awaitable of one (``AsyncMargin``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal, TypeVar

from margin.sdk._http import new_idempotency_key
from margin.sdk._operations import Resource, Timestamp, clean, flag, iso, operation
from margin.sdk.parties import Agents, Customers, TrackingMode

__all__ = ["Agents", "Costs", "Customers", "Dedupe", "Events", "Signals", "TrackingMode"]

_R = TypeVar("_R")
_B = TypeVar("_B")
#: "content": a reused idempotency key with other content is refused; "none": not checked.
Dedupe = Literal["content", "none"]


def _keyed(item: Mapping[str, Any]) -> dict[str, Any]:
    """Copy an ingest item and give it an idempotency key now, before the first attempt,
    so every retry of the same item carries the same key."""
    out = clean(item)
    if not out.get("idempotency_key"):
        out["idempotency_key"] = new_idempotency_key()
    return out


def _batch(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"items": [_keyed(item) for item in items]}


class Signals(Resource[_R, _B]):
    """``/v1/signals``: business outcomes."""

    _post = operation("POST", "/v1/signals")
    _list = operation("GET", "/v1/signals")
    _get = operation("GET", "/v1/signals/{signal_id}")

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
        dedupe: Dedupe | None = None,
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
        return self._json(self._post.call(params={"dedupe": dedupe}, json=item))

    def create_batch(
        self, items: Iterable[Mapping[str, Any]], *, dedupe: Dedupe | None = None
    ) -> _R:
        """Record many signals in one request; per-item results come back in ``items``."""
        return self._json(self._post.call(params={"dedupe": dedupe}, json=_batch(items)))

    def get(self, id: str) -> _R:
        """One signal, with the cost attributed to it per currency."""
        return self._json(self._get.call({"signal_id": id}))

    def list(
        self,
        *,
        trace_id: str | None = None,
        customer: str | None = None,
        event_name: str | None = None,
        agent: str | None = None,
        from_: Timestamp = None,
        to: Timestamp = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> _R:
        """One page of signals, oldest id first (``customer``/``agent``: external ids)."""
        params = {
            "trace_id": trace_id,
            "customer": customer,
            "event_name": event_name,
            "agent": agent,
            "from": iso(from_),
            "to": iso(to),
            "limit": limit,
            "cursor": cursor,
        }
        return self._json(self._list.call(params=params))


class Costs(Resource[_R, _B]):
    """``/v1/costs``: AI and provider costs reported directly (not via traces)."""

    _post = operation("POST", "/v1/costs")
    _list = operation("GET", "/v1/costs")

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
        dedupe: Dedupe | None = None,
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
        return self._json(self._post.call(params={"dedupe": dedupe}, json=item))

    def create_batch(
        self, items: Iterable[Mapping[str, Any]], *, dedupe: Dedupe | None = None
    ) -> _R:
        """Record many costs in one request."""
        return self._json(self._post.call(params={"dedupe": dedupe}, json=_batch(items)))

    def list(
        self,
        *,
        priced_by: Literal["provided", "catalog", "override", "unpriced"] | None = None,
        trace_id: str | None = None,
        signal_id: str | None = None,
        customer: str | None = None,
        agent: str | None = None,
        from_: Timestamp = None,
        to: Timestamp = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> _R:
        """One page of costs, oldest id first, with how each was priced."""
        params = {
            "priced_by": priced_by,
            "trace_id": trace_id,
            "signal_id": signal_id,
            "customer": customer,
            "agent": agent,
            "from": iso(from_),
            "to": iso(to),
            "limit": limit,
            "cursor": cursor,
        }
        return self._json(self._list.call(params=params))


class Events(Resource[_R, _B]):
    """``/v1/events``: generic metering events."""

    _post = operation("POST", "/v1/events")
    _list = operation("GET", "/v1/events")

    def create(
        self,
        type: str,
        *,
        customer: str | None = None,
        customer_id: str | None = None,
        data: Mapping[str, Any] | None = None,
        timestamp: Timestamp = None,
        idempotency_key: str | None = None,
        dedupe: Dedupe | None = None,
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
        return self._json(self._post.call(params={"dedupe": dedupe}, json=item))

    def create_batch(
        self, items: Iterable[Mapping[str, Any]], *, dedupe: Dedupe | None = None
    ) -> _R:
        """Record many metering events in one request."""
        return self._json(self._post.call(params={"dedupe": dedupe}, json=_batch(items)))

    def list(
        self,
        *,
        type: str | None = None,
        unmatched: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> _R:
        """One page of events; ``unmatched=True``: those no meter measures."""
        params = {"type": type, "unmatched": flag(unmatched), "limit": limit, "cursor": cursor}
        return self._json(self._list.call(params=params))
