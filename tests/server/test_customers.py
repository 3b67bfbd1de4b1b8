"""Customers and agents: upsert, get, list, update, archive, isolation and scopes."""

from __future__ import annotations

from margin_testing import Api, make_tenant


def test_create_is_an_upsert_by_external_id(api: Api) -> None:
    first = api.post("/v1/customers", json={"external_id": "acme", "name": "Acme"})
    assert first.status_code == 201
    again = api.post("/v1/customers", json={"external_id": "acme", "email": "ap@acme.test"})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["name"] == "Acme"
    assert again.json()["email"] == "ap@acme.test"
    listed = api.get("/v1/customers").json()
    assert [c["external_id"] for c in listed["data"]] == ["acme"]


def test_another_tenants_ids_answer_404(api: Api) -> None:
    other = make_tenant(api.db, "other")
    theirs = api.client.post(
        "/v1/customers", json={"external_id": "x"}, headers=other.headers()
    ).json()
    assert api.get(f"/v1/customers/{theirs['id']}").status_code == 404
    assert api.get("/v1/customers/external/x").status_code == 404
    assert api.patch(f"/v1/customers/{theirs['id']}", json={"name": "y"}).status_code == 404
    assert api.delete(f"/v1/customers/{theirs['id']}").status_code == 404
    body = api.get(f"/v1/customers/{theirs['id']}").json()
    assert body["status"] == 404
    assert api.get("/v1/customers").json()["data"] == []


def test_scopes_are_enforced(api: Api) -> None:
    assert api.post("/v1/customers", json={"external_id": "a"}, scope="ingest").status_code == 403
    assert api.post("/v1/customers", json={"external_id": "a"}, scope="read").status_code == 403
    assert api.get("/v1/customers", scope="ingest").status_code == 403
    assert api.get("/v1/reports/summary", scope="ingest").status_code == 403
    assert api.get("/v1/customers", scope="read").status_code == 200
    signal = {"event_name": "x", "customer": "c"}
    assert api.post("/v1/signals", json=signal, scope="read").status_code == 403
    assert api.post("/v1/signals", json=signal, scope="ingest").status_code == 201
    missing = api.client.get("/v1/customers")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    bad = api.client.get("/v1/customers", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_pagination_update_and_archive(api: Api) -> None:
    ids = [
        api.post("/v1/agents", json={"external_id": f"a{i}", "name": f"Agent {i}"}).json()["id"]
        for i in range(5)
    ]
    page = api.get("/v1/agents", params={"limit": 2}).json()
    assert [a["id"] for a in page["data"]] == ids[:2]
    page2 = api.get("/v1/agents", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [a["id"] for a in page2["data"]] == ids[2:4]
    page3 = api.get("/v1/agents", params={"limit": 2, "cursor": page2["next_cursor"]}).json()
    assert [a["id"] for a in page3["data"]] == ids[4:]
    assert page3["next_cursor"] is None
    updated = api.patch(f"/v1/agents/{ids[0]}", json={"tracking_mode": "cost_only"}).json()
    assert updated["tracking_mode"] == "cost_only"
    archived = api.delete(f"/v1/agents/{ids[1]}").json()
    assert archived["archived_at"] is not None
    assert ids[1] not in [a["id"] for a in api.get("/v1/agents").json()["data"]]
    everything = api.get("/v1/agents", params={"include_archived": "true"}).json()["data"]
    assert ids[1] in [a["id"] for a in everything]
    assert api.get("/v1/agents/external/a1").json()["id"] == ids[1]


def test_bad_party_input_is_a_problem_naming_the_field(api: Api) -> None:
    cases = [
        ({"name": "no external id"}, "external_id"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "a", "currency": "usd"}, "currency"),
        ({"external_id": "a", "tracking_mode": "both"}, "tracking_mode"),
        ({"external_id": "a", "email": "not-an-email"}, "email"),
        ({"external_id": "a", "surprise": 1}, "surprise"),
        ({"external_id": "a", "description": "customers have none"}, "description"),
    ]
    for body, field in cases:
        response = api.post("/v1/customers", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field, body
    assert api.get("/v1/customers").json()["data"] == []
