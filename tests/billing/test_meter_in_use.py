"""A meter a plan's usage charge or a credit-burning feature reads cannot be deleted, nor
changed so that the charge or the burn stops: refused with 409 naming ``key``, unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from billing_support import generate, setup_plan
from margin.store.schema import meters

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api

TOK = {"key": "tok", "event_type": "llm", "value_property": "$.tokens", "aggregation": "sum"}
USAGE = [{"key": "u", "meter": "tok", "model": "per_unit", "unit_price": "2"}]


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_meter_of_a_burning_feature_keeps_adding_up(api: Api) -> None:
    before = _ok(api.post("/v1/meters", json=TOK), 201)
    feature = {"key": "f", "backed_by": "meter", "meter": "tok", "credit_currency": "tokens"}
    _ok(api.post("/v1/features", json=feature), 201)
    _refused(api.put("/v1/meters/tok", json={**TOK, "aggregation": "max"}), 409, "key")
    assert _ok(api.get("/v1/meters/tok"), 200) == before
    # A change that keeps the meter adding up per event is taken.
    changed = _ok(api.put("/v1/meters/tok", json={**TOK, "name": "Tokens"}), 200)
    assert changed["name"] == "Tokens"


def test_meter_of_a_feature_is_not_deleted(api: Api) -> None:
    _ok(api.post("/v1/meters", json=TOK), 201)
    _ok(api.post("/v1/features", json={"key": "f", "backed_by": "meter", "meter": "tok"}), 201)
    _refused(api.delete("/v1/meters/tok"), 409, "key")
    _ok(api.get("/v1/meters/tok"), 200)


def test_meter_of_a_plan_is_not_deleted(api: Api) -> None:
    _ok(api.post("/v1/meters", json=TOK), 201)
    setup_plan(api, {"usage": USAGE})
    items = [
        {
            "type": "llm",
            "customer": "acme",
            "timestamp": "2026-10-02T10:00:00Z",
            "data": {"tokens": 3},
        }
    ]
    _ok(api.post("/v1/events", json={"items": items}, scope="ingest"), 200)
    _refused(api.delete("/v1/meters/tok"), 409, "key")
    _ok(api.get("/v1/meters/tok"), 200)
    (invoice,) = generate(api, "2026-10")
    lines = {line["key"]: line for line in invoice["lines"]}
    assert lines["usage:u"]["amount"] == "6"


def test_rating_refuses_a_charge_on_a_missing_meter(api: Api) -> None:
    _ok(api.post("/v1/meters", json=TOK), 201)
    setup_plan(api, {"usage": USAGE})
    # A meter gone from older data: the usage line is not silently left out.
    with api.db.write() as conn:
        conn.execute(delete(meters).where(meters.c.key == "tok"))
    response = api.post("/v1/invoices/generate", json={"period": "2026-10"})
    _refused(response, 409, "usage.u.meter")
    assert "tok" in response.json()["detail"]
    assert _ok(api.get("/v1/invoices"), 200)["data"] == []


def test_unused_meter_is_deleted_and_replaced(api: Api) -> None:
    _ok(api.post("/v1/meters", json=TOK), 201)
    _ok(api.put("/v1/meters/tok", json={**TOK, "aggregation": "max"}), 200)
    _ok(api.delete("/v1/meters/tok"), 204)


def test_plan_with_an_unknown_meter_is_refused(api: Api) -> None:
    body = {"key": "p", "currency": "USD", "usage": [{**USAGE[0], "meter": "nonexistent"}]}
    _refused(api.post("/v1/plans", json=body), 422, "usage.0.meter")
    assert _ok(api.get("/v1/plans"), 200)["data"] == []
