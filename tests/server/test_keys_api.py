"""``/v1/keys``: an admin lists, creates and revokes the organization's keys through the API
(the dashboard's API keys page uses it), on both stores."""

from __future__ import annotations

from typing import Any

from margin_testing import make_tenant


def test_create_list_and_revoke_a_key(api: Any) -> None:
    made = api.post("/v1/keys", json={"scope": "read", "name": "  analytics  "})
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["secret"].startswith("mgn_read_")
    assert key["secret"].startswith(key["prefix"])
    assert (key["name"], key["scope"], key["revoked_at"], key["current"]) == (
        "analytics",
        "read",
        None,
        False,
    )
    # The new key works, and the list never shows a secret.
    headers = {"Authorization": f"Bearer {key['secret']}"}
    assert api.client.get("/v1/customers", headers=headers).status_code == 200
    listed = api.get("/v1/keys").json()["data"]
    assert key["id"] in [k["id"] for k in listed]
    assert all("secret" not in k for k in listed)
    assert [k["scope"] for k in listed if k["current"]] == ["admin"]
    revoked = api.post(f"/v1/keys/{key['id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert api.client.get("/v1/customers", headers=headers).status_code == 401
    again = api.post(f"/v1/keys/{key['id']}/revoke")
    assert again.status_code == 409
    assert again.json()["field"] == "key_id"


def test_keys_need_admin_and_stay_in_their_organization(api: Any) -> None:
    assert api.get("/v1/keys", scope="read").status_code == 403
    assert api.post("/v1/keys", scope="read", json={"scope": "admin"}).status_code == 403
    other = make_tenant(api.db)
    theirs = api.client.get("/v1/keys", headers=other.headers()).json()["data"]
    assert theirs
    mine = {k["id"] for k in api.get("/v1/keys").json()["data"]}
    assert not mine & {k["id"] for k in theirs}
    refused = api.post(f"/v1/keys/{theirs[0]['id']}/revoke")
    assert refused.status_code == 404
    assert refused.json()["field"] == "key_id"
    assert all(
        k["revoked_at"] is None
        for k in api.client.get("/v1/keys", headers=other.headers()).json()["data"]
    )


def test_bad_input_names_the_field(api: Any) -> None:
    before = api.get("/v1/keys").json()["data"]
    for body, field in (
        ({"scope": "owner"}, "scope"),
        ({"scope": "read", "name": "x" * 201}, "name"),
    ):
        r = api.post("/v1/keys", json=body)
        assert r.status_code == 422, r.text
        assert field in r.text
    assert api.get("/v1/keys").json()["data"] == before
