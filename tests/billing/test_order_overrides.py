"""An order's overrides are stored and echoed as exact decimal strings, refused naming the
field, and an empty ``ends_at`` is refused rather than read as open-ended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update

from billing_support import setup_plan
from margin.store.schema import orders

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api

METER = {"key": "tok", "event_type": "llm", "value_property": "$.tokens", "aggregation": "sum"}
PLAN = {
    "key": "p0",
    "currency": "USD",
    "outcomes": [{"event_name": "mb", "price": "2"}],
    "fees": [{"key": "base", "amount": "10"}],
    "usage": [{"key": "u", "meter": "tok", "model": "per_unit", "unit_price": "1"}],
}


def _setup(api: Api) -> None:
    assert api.post("/v1/customers", json={"external_id": "acme"}).status_code == 201
    assert api.post("/v1/meters", json=METER).status_code == 201
    assert api.post("/v1/plans", json=PLAN).status_code == 201


def _order(api: Api, **fields: Any) -> Any:
    body = {"customer": "acme", "plan": "p0", "starts_at": "2026-10-01", **fields}
    return api.post("/v1/orders", json=body)


def _refused(response: Any, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_overrides_are_stored_as_decimal_strings(api: Api) -> None:
    _setup(api)
    overrides = {
        "outcomes": {"mb": 1.5},
        "minimum": 0.1,
        "fees": {"base": 2.25},
        "usage": {"u": {"unit_price": 0.5, "max_per_event": "1e1"}},
    }
    made = _order(api, overrides=overrides)
    assert made.status_code == 201, made.text
    stored = {
        "outcomes": {"mb": "1.5"},
        "minimum": "0.1",
        "fees": {"base": "2.25"},
        "usage": {"u": {"unit_price": "0.5", "max_per_event": "10"}},
    }
    assert made.json()["overrides"] == stored
    assert api.get(f"/v1/orders/{made.json()['id']}").json()["overrides"] == stored
    assert made.json()["charges"]["minimum"] == "0.1"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"minimum": "1e-400"}, "overrides.minimum"),
        ({"minimum": "0.0000000001"}, "overrides.minimum"),
        ({"outcomes": {"mb": "-1e-12"}}, "overrides.outcomes.mb"),
        ({"outcomes": {"mb": "1e18"}}, "overrides.outcomes.mb"),
        ({"fees": {"base": "-1"}}, "overrides.fees.base"),
        ({"fees": {"base": "x"}}, "overrides.fees.base"),
        ({"usage": {"u": {"unit_price": "1e18"}}}, "overrides.usage.u.unit_price"),
        ({"usage": {"u": {"key": "renamed"}}}, "overrides.usage.u.key"),
        ({"usage": {"u": {"meter": "other"}}}, "overrides.usage.u.meter"),
        ({"usage": {"nope": {"unit_price": "1"}}}, "overrides.usage.nope"),
        ({"outcomes": {"nope": "1"}}, "overrides.outcomes.nope"),
        ({"bogus": {}}, "overrides.bogus"),
    ],
)
def test_bad_overrides_name_the_field(api: Api, overrides: dict[str, Any], field: str) -> None:
    _setup(api)
    response = _order(api, overrides=overrides)
    _refused(response, field)
    assert response.json()["detail"].startswith(f"{field}: ")
    assert api.get("/v1/orders").json()["data"] == []


def test_a_key_override_says_why(api: Api) -> None:
    _setup(api)
    response = _order(api, overrides={"usage": {"u": {"key": "renamed"}}})
    assert "no such charge" not in response.json()["detail"]
    assert "key" in response.json()["detail"]


def test_an_override_underflowing_to_zero_is_refused(api: Api) -> None:
    _setup(api)
    body = (
        b'{"customer":"acme","plan":"p0","starts_at":"2026-10-01","overrides":{"minimum":1e-400}}'
    )
    headers = {"content-type": "application/json"}
    response = api.post("/v1/orders", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "overrides.minimum"
    assert api.get("/v1/orders").json()["data"] == []


def test_an_empty_ends_at_is_refused_on_create(api: Api) -> None:
    _setup(api)
    _refused(_order(api, ends_at=""), "ends_at")
    assert api.get("/v1/orders").json()["data"] == []


def test_an_empty_ends_at_does_not_reopen_an_order(api: Api) -> None:
    order = setup_plan(api, ends_at="2026-11-01")
    response = api.patch(f"/v1/orders/{order['id']}", json={"ends_at": ""})
    _refused(response, "ends_at")
    assert api.get(f"/v1/orders/{order['id']}").json()["ends_at"] == order["ends_at"]
    reopened = api.patch(f"/v1/orders/{order['id']}", json={"ends_at": None})
    assert reopened.status_code == 200
    assert reopened.json()["ends_at"] is None


def test_a_plan_price_under_a_nano_unit_is_refused(api: Api) -> None:
    body = {**PLAN, "outcomes": [{"event_name": "mb", "price": "1e-12"}]}
    response = api.post("/v1/plans", json=body)
    _refused(response, "outcomes.0.price")
    assert api.get("/v1/plans").json()["data"] == []


def test_a_stored_order_from_before_the_rules_still_reads(api: Api) -> None:
    _setup(api)
    made = _order(api).json()
    legacy = {"minimum": 0.0, "usage": {"u": {"meter": "tok", "unit_price": "1e-12"}}}
    with api.db.write() as conn:
        conn.execute(update(orders).where(orders.c.id == made["id"]).values(overrides=legacy))
    read = api.get(f"/v1/orders/{made['id']}")
    assert read.status_code == 200, read.text
    assert read.json()["charges"]["usage"][0]["unit_price"] == "0.000000000001"
