"""Bad input on the compatibility routes is refused naming the field, changes nothing, and
is answered as the OpenAPI document says (on both stores, over the in-process app).

Each case is one the fuzz test (tests/server/test_fuzz.py) found."""

from __future__ import annotations

from typing import Any

from margin_testing import Api

PAID = "/compat/paid/api/v2"
PAYGENTIC = "/compat/paygentic/v0"


def _customer(api: Api) -> str:
    response = api.post(f"{PAID}/customers/", json={"name": "Acme", "externalId": "acme"})
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["id"]
    return customer_id


def _orders(api: Api) -> list[dict[str, Any]]:
    response = api.get(f"{PAID}/orders/")
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["status"], body["field"]) == (status, field)
    assert body["message"] == body["detail"]
    assert body["correlation_id"] == response.headers["x-correlation-id"]


def test_an_order_of_no_customer_is_refused(api: Api) -> None:
    # A customer id longer than an id column was a 500 on PostgreSQL.
    for customer_id in ("cus_missing", "पन्ह " * 20):
        body = {"customerId": customer_id, "creationState": "draft"}
        _refused(api.post(f"{PAID}/orders/", json=body), 422, "customerId")
    assert _orders(api) == []


def test_an_order_external_id_is_taken_once(api: Api) -> None:
    customer_id = _customer(api)
    body = {"customerId": customer_id, "externalId": "o-1", "creationState": "draft"}
    assert api.post(f"{PAID}/orders/", json=body).status_code == 200
    # The second was a 500 (the store's unique index) on both stores.
    _refused(api.post(f"{PAID}/orders/", json=body), 409, "externalId")
    _refused(api.post(f"{PAID}/orders/", json={**body, "externalId": "o" * 257}), 422, "externalId")
    assert [order["externalId"] for order in _orders(api)] == ["o-1"]


def test_a_contact_external_id_is_taken_once(api: Api) -> None:
    customer_id = _customer(api)
    body = {"customerId": customer_id, "email": "a@example.com", "externalId": "c-1"}
    assert api.post(f"{PAID}/contacts/", json=body).status_code == 200
    _refused(api.post(f"{PAID}/contacts/", json=body), 409, "externalId")
    assert api.get(f"{PAID}/contacts/").json()["pagination"]["total"] == 1


def test_changes_of_missing_objects_are_404s(api: Api) -> None:
    _customer(api)
    for method, path in [
        ("PUT", f"{PAID}/customers/cus_missing"),
        ("DELETE", f"{PAID}/customers/external/missing"),
        ("PUT", f"{PAID}/products/missing"),
        ("PUT", f"{PAID}/contacts/external/missing"),
        ("DELETE", f"{PAID}/contacts/rec_missing"),
    ]:
        body = None if method == "DELETE" else {"name": "x"}
        response = api.request(method, path, json=body)
        _refused(response, 404, "externalId" if "/external/" in path else "id")
    assert [c["externalId"] for c in api.get(f"{PAID}/customers/").json()["data"]] == ["acme"]


def test_vendor_errors_are_documented_in_their_media_type(api: Api) -> None:
    """Paygentic's errors are application/json (its SDK types no other); the document says
    so, and what the app's outer layers refuse and a 500 stay problem+json."""
    response = api.get(f"{PAYGENTIC}/billableMetrics/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    spec = api.get("/openapi.json").json()
    operation = spec["paths"][f"{PAYGENTIC}/billableMetrics/{{metric_id}}"]["get"]
    errors = operation["responses"]["4XX"]["content"]
    assert sorted(errors) == ["application/json", "application/problem+json"]
    assert list(operation["responses"]["500"]["content"]) == ["application/problem+json"]
    assert "x-error-media-type" not in operation
    paid = spec["paths"][f"{PAID}/orders/"]["post"]["responses"]
    assert list(paid["4XX"]["content"]) == ["application/problem+json"]
    assert list(spec["paths"]["/v1/signals"]["post"]["responses"]["4XX"]["content"]) == [
        "application/problem+json"
    ]


def test_a_paygentic_event_error_names_the_wire_field(api: Api) -> None:
    _customer(api)
    event = {"type": "call", "source": "s", "data": {}, "externalSubject": "acme"}
    first = api.post(f"{PAYGENTIC}/events", json={**event, "idempotencyKey": "k-1"})
    assert first.status_code == 202, first.text
    again = {**event, "type": "other", "idempotencyKey": "k-1"}
    _refused(api.post(f"{PAYGENTIC}/events", json=again), 409, "idempotencyKey")
    _refused(api.post(f"{PAYGENTIC}/events", json={**event, "subject": "cus_x"}), 400, "subject")
    late = {**event, "timestamp": "0001-01-01T00:00:00+01:00"}
    _refused(api.post(f"{PAYGENTIC}/events", json=late), 400, "timestamp")


def test_a_paygent_duration_past_any_bill_is_refused(api: Api) -> None:
    # Minutes × 60 overflowed to infinity: a 500.
    raw = {"provider": "openai", "model": "gpt-4o", "audioDuration": 3.0e307}
    body = {"rawUsage": raw, "customerId": "acme", "agentId": "sdr"}
    _refused(api.post("/api/v2/usage", json=body), 422, "rawUsage.audioDuration")
    assert api.get("/v1/customers").json()["data"] == []
