"""What no store can hold (NUL, lone surrogates, 64-bit overflow, non-finite numbers) in a
plan, meter or order body is refused with 422 naming the value's path (the key's object for
a bad key), the same on both stores, and nothing is stored."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api

NUL = "a\x00b"
LONE = "\ud800"


def _raw(api: Api, method: str, url: str, body: dict[str, Any]) -> Any:
    # Encoded by hand: httpx cannot encode a lone surrogate, and json.dumps writes it escaped.
    content = json.dumps(body, allow_nan=True).encode()
    headers = {"content-type": "application/json"}
    return api.request(method, url, content=content, headers=headers)


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def _plan(**fields: Any) -> dict[str, Any]:
    return {"key": "p", "currency": "USD", **fields}


def _outcome(**fields: Any) -> dict[str, Any]:
    return {"outcomes": [{"event_name": "e", "price": "1", **fields}]}


def _entitlement(**fields: Any) -> dict[str, Any]:
    return {"entitlements": [{"feature": "f", "kind": "boolean", **fields}]}


PLAN_CASES = [
    (_plan(name=NUL), "name"),
    (_plan(name=LONE), "name"),
    (_plan(agent=NUL), "agent"),
    (_plan(**_outcome(event_name=NUL)), "outcomes.0.event_name"),
    (_plan(**_outcome(name=LONE)), "outcomes.0.name"),
    (_plan(fees=[{"key": "f", "amount": "1", "name": NUL}]), "fees.0.name"),
    (_plan(**_entitlement(feature=NUL)), "entitlements.0.feature"),
    (_plan(**_entitlement(config={"k": NUL})), "entitlements.0.config.k"),
    (_plan(**_entitlement(config={NUL: 1})), "entitlements.0.config"),
    (_plan(**_entitlement(config={"k": 2**64})), "entitlements.0.config.k"),
    (_plan(**_entitlement(config={"k": float("nan")})), "entitlements.0.config.k"),
    (_plan(**_entitlement(config={"k": float("inf")})), "entitlements.0.config.k"),
]


@pytest.mark.parametrize(("body", "field"), PLAN_CASES)
def test_plan_refuses_unstorable_values(api: Api, body: dict[str, Any], field: str) -> None:
    assert api.post("/v1/agents", json={"external_id": "sdr"}).status_code == 201
    assert api.post("/v1/features", json={"key": "f", "backed_by": "none"}).status_code == 201
    _refused(_raw(api, "POST", "/v1/plans", body), field)
    assert api.get("/v1/plans").json()["data"] == []


METER = {"key": "m", "event_type": "llm", "aggregation": "count"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"name": NUL}, "name"), ({"event_type": NUL}, "event_type"), ({"name": LONE}, "name")],
)
def test_meter_refuses_unstorable_values(api: Api, fields: dict[str, Any], field: str) -> None:
    _refused(_raw(api, "POST", "/v1/meters", {**METER, **fields}), field)
    assert api.get("/v1/meters").json()["data"] == []
    assert api.post("/v1/meters", json=METER).status_code == 201
    _refused(_raw(api, "PUT", "/v1/meters/m", {**METER, **fields}), field)
    assert api.get("/v1/meters/m").json()["name"] is None
    assert api.get("/v1/meters/m").json()["event_type"] == "llm"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"customer": NUL}, "customer"),
        ({"plan": NUL}, "plan"),
        ({"customer": LONE}, "customer"),
        ({"ends_at": NUL}, "ends_at"),
        ({"overrides": {"usage": {"u": {"name": NUL}}}}, "overrides.usage.u.name"),
    ],
)
def test_order_refuses_unstorable_values(api: Api, fields: dict[str, Any], field: str) -> None:
    assert api.post("/v1/customers", json={"external_id": "acme"}).status_code == 201
    assert api.post("/v1/plans", json=_plan()).status_code == 201
    body = {"customer": "acme", "plan": "p", "starts_at": "2026-10-01", **fields}
    _refused(_raw(api, "POST", "/v1/orders", body), field)
    assert api.get("/v1/orders").json()["data"] == []


def test_order_end_refuses_nul(api: Api) -> None:
    assert api.post("/v1/customers", json={"external_id": "acme"}).status_code == 201
    assert api.post("/v1/plans", json=_plan()).status_code == 201
    body = {"customer": "acme", "plan": "p", "starts_at": "2026-10-01"}
    order = api.post("/v1/orders", json=body).json()
    _refused(_raw(api, "PATCH", f"/v1/orders/{order['id']}", {"ends_at": NUL}), "ends_at")
    assert api.get(f"/v1/orders/{order['id']}").json()["ends_at"] is None
