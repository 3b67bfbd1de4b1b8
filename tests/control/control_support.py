"""Set-up shared by the control tests: a clock the API reads, features, facts via the API."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from margin._time import to_micros

if TYPE_CHECKING:
    from margin_testing import Api

_keys = itertools.count(1)


def at(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def set_clock(api: Api, text: str) -> None:
    now = at(text)
    api.client.app.state.margin.clock = lambda: now  # type: ignore[attr-defined]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def customer(api: Api, external_id: str = "acme") -> str:
    made = api.post("/v1/customers", json={"external_id": external_id})
    assert made.status_code in (200, 201), made.text
    return str(made.json()["id"])


def signals(api: Api, name: str, n: int, ts: str, who: str = "acme") -> list[dict[str, Any]]:
    items = [
        {
            "event_name": name,
            "customer": who,
            "agent": "sdr",
            "timestamp": ts,
            "idempotency_key": f"s-{next(_keys)}",
        }
        for _ in range(n)
    ]
    ok(api.post("/v1/signals", json={"items": items}, scope="ingest"))
    return items


def cost(api: Api, amount: str, ts: str, who: str = "acme") -> dict[str, Any]:
    item = {
        "customer": who,
        "agent": "sdr",
        "amount": amount,
        "currency": "USD",
        "provider": "openai",
        "model": "gpt-4o",
        "timestamp": ts,
        "idempotency_key": f"c-{next(_keys)}",
    }
    ok(api.post("/v1/costs", json=item, scope="ingest"), 201)
    return item
