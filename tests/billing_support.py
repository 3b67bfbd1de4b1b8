"""Shared set-up for billing and report tests: an agent, a plan, an order, and facts via the API."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from margin_testing import Api


_trace = itertools.count(1)


def setup_plan(api: Api, plan: dict[str, Any] | None = None, **order: Any) -> dict[str, Any]:
    """Create agent ``sdr``, customer ``acme`` and a USD plan ordered by acme."""
    assert api.post("/v1/agents", json={"external_id": "sdr"}).status_code == 201
    assert api.post("/v1/customers", json={"external_id": "acme"}).status_code in (200, 201)
    body = {
        "key": "sdr-pro",
        "agent": "sdr",
        "currency": "USD",
        "outcomes": [
            {"event_name": "meeting_booked", "price": "25"},
            {"event_name": "email_sent", "price": "0.10"},
        ],
        "fees": [{"key": "platform", "amount": "300", "name": "Platform"}],
        **(plan or {}),
    }
    created = api.post("/v1/plans", json=body)
    assert created.status_code == 201, created.text
    order_body = {"customer": "acme", "plan": body["key"], "starts_at": "2026-10-01", **order}
    made = api.post("/v1/orders", json=order_body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def outcome(
    api: Api,
    name: str,
    ts: str,
    cost: str | None = None,
    customer: str = "acme",
    agent: str = "sdr",
) -> None:
    """One signal; with ``cost``, an AI cost in the same trace attributed to it."""
    trace = f"{next(_trace):032x}"
    signal = {
        "event_name": name,
        "customer": customer,
        "agent": agent,
        "timestamp": ts,
        "trace_id": trace,
        "cost_tracing": True,
    }
    assert api.post("/v1/signals", json=signal, scope="ingest").status_code == 201
    if cost is not None:
        item = {
            "customer": customer,
            "agent": agent,
            "trace_id": trace,
            "amount": cost,
            "currency": "USD",
            "provider": "openai",
            "model": "gpt-4o",
            "timestamp": ts,
        }
        assert api.post("/v1/costs", json=item, scope="ingest").status_code == 201


def generate(api: Api, period: str) -> list[dict[str, Any]]:
    response = api.post("/v1/invoices/generate", json={"period": period})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])
