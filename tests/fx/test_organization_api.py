"""``/v1/organization`` on both stores: defaults, changes, bad input refused whole."""

from __future__ import annotations

from typing import Any

from margin.store.organization import reporting_currency
from margin_testing import Api, make_tenant


def test_defaults_until_something_is_set(api: Api) -> None:
    response = api.get("/v1/organization", scope="read")
    assert response.status_code == 200
    body = response.json()
    assert body["created_at"].endswith("Z")
    assert {k: v for k, v in body.items() if k != "created_at"} == {
        "id": api.tenant.org_id,
        "display_name": "acme",
        "reporting_currency": "USD",
        "seller": {"legal_name": None, "address": [], "email": None, "tax_id": None},
        "updated_at": None,
    }


def test_patch_sets_what_it_names_and_keeps_the_rest(api: Api) -> None:
    first = api.patch(
        "/v1/organization",
        json={
            "reporting_currency": "EUR",
            "seller": {
                "legal_name": "Acme Europe GmbH",
                "address": ["Torstraße 1", "10119 Berlin", "Germany"],
                "email": "billing@acme.example",
                "tax_id": "DE123456789",
            },
        },
    )
    assert first.status_code == 200, first.text
    assert first.json()["reporting_currency"] == "EUR"
    assert first.json()["updated_at"] is not None
    second = api.patch("/v1/organization", json={"display_name": "Acme", "seller": {"email": None}})
    assert second.status_code == 200
    body = api.get("/v1/organization", scope="read").json()
    assert body["display_name"] == "Acme"
    assert body["reporting_currency"] == "EUR"
    assert body["seller"] == {
        "legal_name": "Acme Europe GmbH",
        "address": ["Torstraße 1", "10119 Berlin", "Germany"],
        "email": None,
        "tax_id": "DE123456789",
    }
    with api.db.read() as conn:
        assert reporting_currency(conn, api.tenant.org_id) == "EUR"
    cleared = api.patch("/v1/organization", json={"seller": None}).json()
    assert cleared["seller"] == {"legal_name": None, "address": [], "email": None, "tax_id": None}
    assert cleared["reporting_currency"] == "EUR"


BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"reporting_currency": "XYZ"}, "reporting_currency"),
    ({"reporting_currency": "eur"}, "reporting_currency"),
    ({"reporting_currency": "HRK"}, "reporting_currency"),  # withdrawn in 2023
    ({"reporting_currency": None}, "reporting_currency"),
    ({"display_name": None}, "display_name"),
    ({"display_name": "x" * 201}, "display_name"),
    ({"display_name": "Ac\u0000me"}, "display_name"),
    ({"display_name": "   "}, "display_name"),
    ({"seller": {"legal_name": "Acme\nGmbH"}}, "seller.legal_name"),
    ({"seller": {"address": ["ok", "bad\u0000line"]}}, "seller.address.1"),
    ({"seller": {"address": ["l"] * 7}}, "seller.address"),
    ({"seller": {"address": "one string"}}, "seller.address"),
    ({"seller": {"email": "not an email"}}, "seller.email"),
    ({"seller": {"tax_id": "T" * 65}}, "seller.tax_id"),
    ({"seller": {"phone": "1"}}, "seller.phone"),
    ({"timezone": "UTC"}, "timezone"),
]


def test_bad_input_is_422_naming_the_field_and_changes_nothing(api: Api) -> None:
    before = api.get("/v1/organization").json()
    for body in BAD_SETTINGS:
        response = api.patch("/v1/organization", json={"display_name": "Changed", **body[0]})
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == body[1], body
    assert api.get("/v1/organization").json() == before


def test_reading_needs_a_key_and_changing_needs_admin(api: Api) -> None:
    assert api.client.get("/v1/organization").status_code == 401
    assert api.get("/v1/organization", scope="ingest").status_code == 403
    refused = api.patch("/v1/organization", scope="read", json={"reporting_currency": "EUR"})
    assert refused.status_code == 403
    assert api.get("/v1/organization").json()["reporting_currency"] == "USD"


def test_each_organization_has_its_own_settings(api: Api) -> None:
    other = make_tenant(api.db, "globex")
    api.patch("/v1/organization", json={"reporting_currency": "GBP"})
    theirs = api.client.get("/v1/organization", headers=other.headers("read")).json()
    assert (theirs["id"], theirs["display_name"], theirs["reporting_currency"]) == (
        other.org_id,
        "globex",
        "USD",
    )


def test_openapi_describes_the_routes(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for method in ("get", "patch"):
        ok = paths["/v1/organization"][method]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": "#/components/schemas/OrganizationOut"}
    patch = paths["/v1/organization"]["patch"]["requestBody"]["content"]["application/json"]
    assert patch["schema"] == {"$ref": "#/components/schemas/OrganizationPatch"}
