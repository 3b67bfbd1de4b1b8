"""One validator for every request body (``margin._storable.Storable``): a value no store
holds is refused in one form on every route, Margin's own (billing, control, parties) and
the vendors' (camelCase): the problem's ``field`` is the value's path, as the wire names it,
and its ``detail`` is ``<field>: <reason>``. Typed text is trimmed, as an ingest item's is;
a decimal string and free-form JSON are kept as sent. On both stores."""

from __future__ import annotations

from typing import Any

import pytest

from margin_testing import Api

PAID = "/compat/paid/api/v2"
NUL_REASON = "text must not contain the NUL character (U+0000)"
RAW = {"content-type": "application/json"}


def _cid(api: Api) -> str:
    made = api.post("/v1/customers", json={"external_id": "acme"})
    assert made.status_code in (200, 201), made.text
    return str(made.json()["id"])


#: (method, path, body with a NUL, the field named) over every family of request models.
CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/v1/plans", {"key": "p", "currency": "USD", "name": "a\x00"}, "name"),
    (
        "POST",
        "/v1/meters",
        {"key": "m", "event_type": "e\x00", "aggregation": "count"},
        "event_type",
    ),
    ("POST", "/v1/features", {"key": "f", "name": "a\x00"}, "name"),
    ("POST", "/v1/customers", {"external_id": "a\x00"}, "external_id"),
    ("POST", "/v1/agents", {"external_id": "b", "metadata": {"k": ["\x00"]}}, "metadata.k.0"),
    ("POST", "/v1/keys", {"scope": "read", "name": "a\x00"}, "name"),
    ("PATCH", "/v1/organization", {"display_name": "a\x00"}, "display_name"),
    ("POST", f"{PAID}/customers/", {"name": "Acme", "externalId": "a\x00"}, "externalId"),
    (
        "POST",
        f"{PAID}/customers/",
        {"name": "Acme", "billingAddress": {"line1": "\x00"}},
        "billingAddress.line1",
    ),
    ("POST", "/compat/paid/api/v1/customers", {"name": "a\x00"}, "name"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES, ids=[c[1] for c in CASES])
def test_a_refusal_names_the_value_in_one_form_on_every_route(
    api: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    answer = api.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert (problem["field"], problem["detail"]) == (field, f"{field}: {NUL_REASON}")
    assert problem["errors"][0] == {"field": field, "detail": NUL_REASON}


def test_a_customers_external_id_is_trimmed_as_a_signals_customer_is(api: Api) -> None:
    made = api.post("/v1/customers", json={"external_id": " acme ", "name": " Acme "})
    assert made.status_code == 201, made.text
    assert (made.json()["external_id"], made.json()["name"]) == ("acme", "Acme")
    signal = {"event_name": "won", "customer": " acme"}
    assert api.post("/v1/signals", json=signal, scope="ingest").status_code == 201
    [customer] = api.get("/v1/customers").json()["data"]
    [stored] = api.get("/v1/signals", scope="read").json()["data"]
    assert stored["customer_id"] == customer["id"]
    blank = api.post("/v1/agents", json={"external_id": "   "})
    assert (blank.status_code, blank.json()["field"]) == (422, "external_id")


def test_a_decimal_string_and_free_form_json_are_kept_as_sent(api: Api) -> None:
    rate = api.put("/v1/exchange-rates/EUR/USD/2026-03-05", json={"rate": " 1.1"})
    assert (rate.status_code, rate.json()["field"]) == (422, "rate")
    plan = {"key": "p", "currency": "USD", "fees": [{"key": "f", "amount": " 1"}]}
    answer = api.post("/v1/plans", json=plan)
    assert (answer.status_code, answer.json()["field"]) == (422, "fees.0.amount")
    assert answer.json()["detail"] == "fees.0.amount: ' 1' is not a decimal number"
    made = api.post("/v1/customers", json={"external_id": "c", "metadata": {" k ": " v "}})
    assert made.json()["metadata"] == {" k ": " v "}
    cid = _cid(api)
    unit = {"external_id": " u0 ", "metadata": {"note": " x "}}
    created = api.post(f"/v1/customers/{cid}/units", json=unit)
    assert created.status_code == 201, created.text
    assert (created.json()["external_id"], created.json()["metadata"]) == ("u0", {"note": " x "})
