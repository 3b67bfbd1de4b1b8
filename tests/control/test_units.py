"""Customer units (sub-accounts): created by external id, listed, read and removed through
the API and ``margin units``, refused with a problem naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from control_support import customer, ok, set_clock
from typer.testing import CliRunner

from margin.cli_control import APPS
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_org
from margin_testing import Api


def test_units_crud_through_the_api(api: Api) -> None:
    set_clock(api, "2026-10-15T12:00:00+00:00")
    acme = customer(api)
    globex = customer(api, "globex")
    body = {"external_id": "team-a", "name": "Team A", "metadata": {"seats": 4}}
    made = ok(api.post(f"/v1/customers/{acme}/units", json=body), 201)
    assert made["id"].startswith("cun_")
    assert (made["customer_id"], made["external_id"], made["name"], made["metadata"]) == (
        acme,
        "team-a",
        "Team A",
        {"seats": 4},
    )
    assert made["created_at"] == "2026-10-15T12:00:00Z"
    # The same external id again: that unit, updated (200), never a second one.
    again = ok(api.post(f"/v1/customers/{acme}/units", json={**body, "name": "A"}), 200)
    assert (again["id"], again["name"]) == (made["id"], "A")
    ok(api.post(f"/v1/customers/{acme}/units", json={"external_id": "team-b"}), 201)
    # Another customer may use the same external id for its own unit.
    other = ok(api.post(f"/v1/customers/{globex}/units", json={"external_id": "team-a"}), 201)
    assert other["id"] != made["id"]
    listed = ok(api.get(f"/v1/customers/{acme}/units", scope="read"))["data"]
    assert [(u["external_id"], u["name"]) for u in listed] == [("team-a", "A"), ("team-b", None)]
    assert ok(api.get(f"/v1/customers/{acme}/units/team-a", scope="read"))["id"] == made["id"]
    assert ok(api.get(f"/v1/customers/{acme}/units/{made['id']}", scope="read"))["name"] == "A"
    assert api.delete(f"/v1/customers/{acme}/units/team-a").status_code == 204
    gone = api.get(f"/v1/customers/{acme}/units/team-a", scope="read")
    assert (gone.status_code, gone.json()["field"]) == (404, "unit")
    assert api.delete(f"/v1/customers/{acme}/units/team-a").status_code == 404
    # Globex's unit of the same external id is untouched.
    assert ok(api.get(f"/v1/customers/{globex}/units/team-a", scope="read"))["id"] == other["id"]
    for bad, field in [
        ({"external_id": ""}, "external_id"),
        ({"name": "x"}, "external_id"),
        ({"external_id": "x", "metadata": [1]}, "metadata"),
        ({"external_id": "x", "colour": "red"}, "colour"),
    ]:
        refused = api.post(f"/v1/customers/{acme}/units", json=bad)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"].split(".")[-1] == field, refused.text
    missing = api.post("/v1/customers/cus_nobody/units", json={"external_id": "x"})
    assert (missing.status_code, missing.json()["field"]) == (404, "customer")
    assert api.post(f"/v1/customers/{acme}/units", json=body, scope="read").status_code == 403
    left = ok(api.get(f"/v1/customers/{acme}/units", scope="read"))["data"]
    assert [u["external_id"] for u in left] == ["team-b"]


def test_units_cli(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.resolved_database_url)
    db.upgrade()
    with db.write() as conn:
        org = create_org(conn, "acme")
        CUSTOMERS.upsert(conn, org, {"external_id": "acme"})
    db.dispose()
    app = typer.Typer()
    for name, sub in APPS:
        app.add_typer(sub, name=name)
    common = ["--data-dir", str(tmp_path), "--org", org]
    runner = CliRunner()

    def run(*args: str, code: int = 0, as_json: bool = True) -> Any:
        out = runner.invoke(app, [*args, *common, *(["--json"] if as_json else [])])
        assert out.exit_code == code, out.output
        return json.loads(out.stdout) if code == 0 and as_json else out.output

    made = run("units", "add", "acme", "team-a", "--name", "Team A", "--metadata", '{"seats":4}')
    assert (made["external_id"], made["name"], made["metadata"]) == (
        "team-a",
        "Team A",
        {"seats": 4},
    )
    assert run("units", "add", "acme", "team-a", "--name", "A")["id"] == made["id"]
    assert [(u["external_id"], u["name"]) for u in run("units", "list", "acme")] == [
        ("team-a", "A")
    ]
    run("units", "remove", "acme", "team-a", as_json=False)
    assert run("units", "list", "acme") == []
    refused = run("units", "remove", "acme", "team-a", code=2, as_json=False)
    assert refused.strip().splitlines()[-1] == "error: unit: the customer has no unit 'team-a'"
    bad = run("units", "add", "acme", "x", "--metadata", "{", code=2, as_json=False)
    assert "error: metadata: not JSON" in bad
    assert "no customer 'nobody'" in run("units", "list", "nobody", code=2, as_json=False)
