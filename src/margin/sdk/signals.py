"""``margin.signal``: one business outcome ("meeting booked"), recorded in the current trace
or, outside any trace, queued for ``POST /v1/signals`` in the background."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from margin import semconv
from margin.sdk._context import current_scope
from margin.sdk._http import new_idempotency_key
from margin.sdk.runtime import get_runtime

__all__ = ["signal"]

log = logging.getLogger("margin")
_warned: set[str] = set()
_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, exc_info=key == "error")


def signal(
    event_name: str,
    data: Mapping[str, Any] | None = None,
    *,
    cost_tracing: bool = False,
    idempotency_key: str | None = None,
    customer: str | None = None,
    agent: str | None = None,
    unit: str | None = None,
) -> str:
    """Record that ``event_name`` happened; returns its idempotency key.

    Inside ``margin.trace`` it becomes a ``margin.signal`` span of that trace, for the
    trace's customer and agent; ``cost_tracing=True`` attributes the trace's AI costs to it.
    Outside a trace pass ``customer=`` (and ``agent=``): it is sent to ``/v1/signals`` in the
    background; ``unit=`` (with ``customer=``) attributes it to that unit of the customer (its
    external id), whose credits it burns first. It never raises for a delivery problem, and
    never blocks on the network."""
    key = idempotency_key or new_idempotency_key()
    runtime = None
    try:
        runtime = get_runtime()
        if runtime is None:
            return key
        # Keys become text as JSON (and ``json.dumps``) makes them: {1: "a"} is {"1": "a"}.
        encoded = orjson.dumps(dict(data or {}), default=str, option=_NON_STR_KEYS).decode()
        if current_scope() is not None and customer is None:
            if unit is not None:
                _warn_once("unit", "margin: signal(unit=) needs customer=; unit ignored")
            attributes: dict[str, object] = {
                semconv.SIGNAL_EVENT_NAME: event_name,
                semconv.SIGNAL_COST_TRACING: cost_tracing,
                semconv.SIGNAL_DATA: encoded,
                semconv.SIGNAL_IDEMPOTENCY_KEY: key,
            }
            runtime.start_span(semconv.SIGNAL_SPAN, attributes).end()
            return key
        if not customer:
            _warn_once("customer", "margin: signal() outside margin.trace needs customer=; dropped")
            runtime.delivery.count_dropped(1)
            return key
        item: dict[str, Any] = {
            "event_name": event_name,
            "customer": customer,
            "timestamp": datetime.now(UTC).isoformat(),
            "data": orjson.loads(encoded),
            "idempotency_key": key,
            "cost_tracing": cost_tracing,
        }
        if agent is not None:
            item["agent"] = agent
        if unit is not None:
            item["unit"] = unit
        runtime.delivery.submit("signals", item)
    except Exception:
        _warn_once("error", "margin: could not record a signal")
        if runtime is not None:
            runtime.delivery.count_dropped(1)
    return key
