"""Customer units (sub-accounts): created by external id, listed, read and removed through
the API and ``margin units``, refused with a problem naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from control_support import customer, ok, set_clock, signals
from typer.testing import CliRunner

import margin
from margin.cli_control import APPS
from margin.sdk.entitlements import Checker
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_org
from margin.store.schema_control import credit_grants
from margin_testing import Api
from server.loopback import serve


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
    run("entitlements", "feature", "seats")
    run("entitlements", "set", "acme", "seats", "--kind", "static")
    own = run(
        "units", "entitle", "acme", "team-a", "seats", "--kind", "static", "--config", '{"seats":2}'
    )
    assert (own["source"], own["config"]) == ("unit", {"seats": 2})
    answer = run("units", "check", "acme", "team-a", "seats")
    assert (answer["has_access"], answer["config"]) == (True, {"seats": 2})
    # A metered entitlement of the unit's own, its credits, and the unit's check.
    run(
        "entitlements",
        "feature",
        "meetings",
        "--backed-by",
        "signals",
        "--event-name",
        "meeting_booked",
        "--credit-currency",
        "meetings",
    )
    metered = run(
        "units",
        "entitle",
        "acme",
        "team-a",
        "meetings",
        "--kind",
        "metered",
        "--limit",
        "5",
        "--period",
        "day",
        "--soft",
    )
    assert (metered["source"], metered["limit"], metered["hard"]) == ("unit", "5", False)
    run("credits", "grant", "acme", "--currency", "meetings", "--amount", "10")
    given = run(
        "credits", "grant", "acme", "--currency", "meetings", "--amount", "3", "--unit", "team-a"
    )
    assert given["unit_id"] == made["id"]
    assert run("credits", "balances", "acme", "--unit", "team-a")[0]["balance"] == "3"
    assert run("credits", "balances", "acme")[0]["balance"] == "10"
    rows = run("credits", "ledger", "acme", "--unit", "team-a")
    assert [(r["cause"], r["delta"], r["unit_id"]) for r in rows] == [("grant", "3", made["id"])]
    answer = run("units", "check", "acme", "team-a", "meetings")
    assert (answer["has_access"], answer["usage"], answer["balance"]) == (True, "0", "13")
    # A unit holding credits is not removed.
    held = run("units", "remove", "acme", "team-a", code=2, as_json=False)
    assert "error: unit: 'team-a' holds credits" in held
    with Database(settings.resolved_database_url).write() as conn:
        conn.execute(credit_grants.update().values(remaining_nanos=0))
    run("units", "remove", "acme", "team-a", as_json=False)
    assert run("units", "list", "acme") == []
    refused = run("units", "remove", "acme", "team-a", code=2, as_json=False)
    assert refused.strip().splitlines()[-1] == "error: unit: the customer has no unit 'team-a'"
    bad = run("units", "add", "acme", "x", "--metadata", "{", code=2, as_json=False)
    assert "error: metadata: not JSON" in bad
    assert "no customer 'nobody'" in run("units", "list", "nobody", code=2, as_json=False)


def test_a_units_check_sees_its_own_entitlements_then_the_customers(api: Api) -> None:
    set_clock(api, "2026-10-15T12:00:00+00:00")
    acme = customer(api)
    for feature in [
        {"key": "sso", "backed_by": "none"},
        {"key": "seats", "backed_by": "none"},
        {"key": "meetings", "backed_by": "signals", "event_name": "meeting_booked"},
    ]:
        ok(api.post("/v1/features", json=feature), 201)
    ok(api.post(f"/v1/customers/{acme}/units", json={"external_id": "team-a"}), 201)
    ok(api.post(f"/v1/customers/{acme}/units", json={"external_id": "team-b"}), 201)
    base = f"/v1/customers/{acme}/entitlements"
    ok(api.put(base, json={"feature": "seats", "kind": "static", "config": {"seats": 10}}))
    ok(api.put(base, json={"feature": "meetings", "limit": "5", "period": "day"}))
    own = {"feature": "seats", "kind": "static", "config": {"seats": 2}}
    made = ok(api.put(base, params={"unit": "team-a"}, json=own))
    assert (made["source"], made["config"], made["unit_id"] is not None) == (
        "unit",
        {"seats": 2},
        True,
    )
    ok(api.put(base, params={"unit": "team-a"}, json={"feature": "sso", "kind": "boolean"}))
    signals(api, "meeting_booked", 2, "2026-10-15T09:00:00Z")

    def seen(unit: str | None, feature: str) -> tuple[Any, ...]:
        params = {} if unit is None else {"unit": unit}
        answer = ok(api.get(f"{base}/{feature}", params=params, scope="read"))
        return answer["has_access"], answer["config"], answer["usage"]

    assert seen("team-a", "seats") == (True, {"seats": 2}, None)  # the unit's own
    assert seen("team-b", "seats") == (True, {"seats": 10}, None)  # the customer's
    assert seen(None, "seats") == (True, {"seats": 10}, None)
    assert seen("team-a", "sso") == (True, {}, None)
    assert seen("team-b", "sso") == (False, None, None)
    assert seen(None, "sso") == (False, None, None)
    assert seen("team-a", "meetings") == (True, {}, "2")  # the customer's, its usage
    by_external = api.get(
        "/v1/customers/external/acme/entitlements/seats", params={"unit": "team-a"}, scope="read"
    )
    assert ok(by_external)["config"] == {"seats": 2}
    listed = ok(api.get(base, params={"unit": "team-a"}, scope="read"))["data"]
    assert [(e["feature"], e["source"]) for e in listed] == [
        ("meetings", "customer"),
        ("seats", "unit"),
        ("sso", "unit"),
    ]
    customer_only = ok(api.get(base, scope="read"))["data"]
    assert [(e["feature"], e["config"]) for e in customer_only] == [
        ("meetings", {}),
        ("seats", {"seats": 10}),
    ]
    # A unit's own metered entitlement counts the unit's usage (tests/control/test_unit_usage).
    metered = api.put(base, params={"unit": "team-a"}, json={"feature": "meetings", "limit": 1})
    assert (ok(metered)["source"], seen("team-a", "meetings")) == ("unit", (True, {}, "0"))
    assert api.delete(f"{base}/meetings", params={"unit": "team-a"}).status_code == 204
    unknown = api.get(f"{base}/seats", params={"unit": "team-z"}, scope="read")
    assert (unknown.status_code, unknown.json()["field"]) == (404, "unit")
    assert api.delete(f"{base}/sso", params={"unit": "team-b"}).status_code == 404
    assert api.delete(f"{base}/sso", params={"unit": "team-a"}).status_code == 204
    assert seen("team-a", "sso") == (False, None, None)
    # Removing a unit removes what was given to it; the customer's stay.
    assert api.delete(f"/v1/customers/{acme}/units/team-a").status_code == 204
    again = ok(api.post(f"/v1/customers/{acme}/units", json={"external_id": "team-a"}), 201)
    assert again["id"] != made["unit_id"]
    assert seen("team-a", "seats") == (True, {"seats": 10}, None)


def test_the_sdk_check_names_a_unit(api: Api) -> None:
    set_clock(api, "2026-10-15T12:00:00+00:00")
    acme = customer(api)
    ok(api.post("/v1/features", json={"key": "sso", "backed_by": "none"}), 201)
    ok(api.post(f"/v1/customers/{acme}/units", json={"external_id": "team-a"}), 201)
    base = f"/v1/customers/{acme}/entitlements"
    ok(api.put(base, params={"unit": "team-a"}, json={"feature": "sso", "kind": "boolean"}))
    app = create_app(api.settings, db=api.db, migrate=False)
    with serve(app) as url:
        checker = Checker(api.tenant.keys["read"], url, ttl=5, timeout=10)
        unit = checker.check("acme", "sso", unit="team-a")
        assert (unit.has_access, unit.unit, unit.source) == (True, "team-a", "server")
        plain = checker.check("acme", "sso")  # another cache entry than the unit's
        assert (plain.has_access, plain.unit, plain.source) == (False, None, "server")
        assert checker.check("acme", "sso", unit="team-a").source == "cache"
        with pytest.raises(margin.EntitlementExceeded):
            checker.require("acme", "sso")
        checker.close()
        # The REST client's unit methods, on the same server.
        with margin.Margin(api.tenant.keys["admin"], url) as m:
            made = m.entitlements.add_unit(acme, "team-b", name="Team B")
            assert (made["external_id"], made["name"]) == ("team-b", "Team B")
            assert m.entitlements.unit(acme, "team-b")["id"] == made["id"]
            assert [u["external_id"] for u in m.entitlements.units(acme)["data"]] == [
                "team-a",
                "team-b",
            ]
            m.entitlements.set(acme, "sso", unit="team-b", kind="boolean")
            assert m.entitlements.check(acme, "sso", unit="team-b")["has_access"] is True
            listed = m.entitlements.list(acme, unit="team-b")["data"]
            assert [(e["feature"], e["source"]) for e in listed] == [("sso", "unit")]
            m.entitlements.remove(acme, "sso", unit="team-b")
            assert (
                m.entitlements.check_by_external_id("acme", "sso", unit="team-b")["has_access"]
                is False
            )
            # The client's credits of a unit.
            given = m.credits.grant(acme, "meetings", "2", unit="team-b")
            assert given["unit_id"] == made["id"]
            assert [g["id"] for g in m.credits.grants(acme, unit="team-b")["data"]] == [given["id"]]
            assert m.credits.grants(acme)["data"] == []
            assert m.credits.balances(acme, unit="team-b")["data"][0]["balance"] == "2"
            rows = m.credits.ledger(acme, unit="team-b", currency="meetings")["data"]
            assert [(r["cause"], r["delta"]) for r in rows] == [("grant", "2")]
            with pytest.raises(margin.ConflictError):  # it holds credits
                m.entitlements.remove_unit(acme, "team-b")
            with api.db.write() as conn:
                conn.execute(credit_grants.update().values(remaining_nanos=0))
            m.entitlements.remove_unit(acme, "team-b")
            assert [u["external_id"] for u in m.entitlements.units(acme)["data"]] == ["team-a"]
