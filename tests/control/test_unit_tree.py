"""Unit trees and unit caps through Margin's own API, on both stores (the ``api`` fixture):
a parent of the same customer, never a cycle, at most ``MAX_DEPTH`` levels, no removal
under children; a cap's round trip, its period, and a unit check refused once the cap (its
own or an ancestor's) is reached by the credits its subtree's usage burned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from control_support import at, customer, ok, set_clock
from typer.testing import CliRunner

from margin.cli_control import APPS
from margin.control.unit_caps import period_of
from margin.control.units import MAX_DEPTH
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_org
from margin_testing import Api

NOW = "2026-10-15T12:00:00+00:00"
_n = iter(range(1_000_000))


def _unit(api: Api, acme: str, external_id: str, **fields: Any) -> dict[str, Any]:
    return ok(
        api.post(f"/v1/customers/{acme}/units", json={"external_id": external_id, **fields}), 201
    )


def _refused(response: Any, status: int, field: str) -> str:
    assert (response.status_code, response.json()["field"]) == (status, field), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["detail"])


def test_a_unit_tree_of_one_customer(api: Api) -> None:
    set_clock(api, NOW)
    acme, globex = customer(api), customer(api, "globex")
    top = _unit(api, acme, "org", name="Org", external_type="department")
    assert {k: top[k] for k in ("external_id", "name", "external_type", "parent", "cap")} == {
        "external_id": "org",
        "name": "Org",
        "external_type": "department",
        "parent": None,
        "cap": None,
    }
    team = _unit(api, acme, "team-a", external_type="team", parent="org")
    assert (team["parent"], team["external_type"]) == ("org", "team")
    squad = _unit(api, acme, "squad-1", parent=team["id"])  # a parent by its id too
    assert squad["parent"] == "team-a"
    _unit(api, globex, "elsewhere")
    base = f"/v1/customers/{acme}/units"
    listed = ok(api.get(base, scope="read"))["data"]
    assert [(u["external_id"], u["parent"]) for u in listed] == [
        ("org", None),
        ("squad-1", "team-a"),
        ("team-a", "org"),
    ]
    before = ok(api.get(base, scope="read"))
    cases = [
        (api.post(base, json={"external_id": "x", "parent": "nobody"}), 422, "parent"),
        (api.post(base, json={"external_id": "x", "parent": "elsewhere"}), 422, "parent"),
        (api.patch(f"{base}/org", json={"parent": "squad-1"}), 409, "parent"),
        (api.patch(f"{base}/team-a", json={"parent": "team-a"}), 409, "parent"),
        (api.patch(f"{base}/team-a", json={"parent": "elsewhere"}), 422, "parent"),
        (api.patch(f"{base}/team-a", json={"colour": "red"}), 422, "colour"),
        (api.patch(f"{base}/nobody", json={"name": "x"}), 404, "unit"),
        (api.delete(f"{base}/team-a"), 409, "unit"),
    ]
    details = [_refused(r, status, field) for r, status, field in cases]
    assert details[0] == "parent: the customer has no unit 'nobody'"
    assert details[2] == "parent: 'squad-1' is the unit or under it"
    assert details[7] == "unit: 'team-a' has units under it ('squad-1'); move or remove them"
    assert ok(api.get(base, scope="read")) == before  # nothing changed
    # PATCH changes only what it is sent; parent null makes a top unit.
    renamed = ok(api.patch(f"{base}/team-a", json={"name": "Team A"}))
    assert (renamed["name"], renamed["parent"], renamed["external_type"]) == (
        "Team A",
        "org",
        "team",
    )
    moved = ok(api.patch(f"{base}/squad-1", json={"parent": None, "metadata": {"k": 1}}))
    assert (moved["parent"], moved["metadata"]) == (None, {"k": 1})
    assert api.delete(f"{base}/team-a").status_code == 204
    # Posting an existing external id replaces its fields, parent included.
    again = ok(api.post(base, json={"external_id": "squad-1", "parent": "org"}), 200)
    assert (again["id"], again["parent"], again["metadata"]) == (squad["id"], "org", {})


def test_a_tree_is_at_most_max_depth_levels(api: Api) -> None:
    set_clock(api, NOW)
    acme = customer(api)
    _unit(api, acme, "u1")
    for level in range(2, MAX_DEPTH + 1):
        _unit(api, acme, f"u{level}", parent=f"u{level - 1}")
    deeper = api.post(
        f"/v1/customers/{acme}/units", json={"external_id": "too-deep", "parent": f"u{MAX_DEPTH}"}
    )
    assert _refused(deeper, 409, "parent") == (
        f"parent: under 'u{MAX_DEPTH}' the tree would be deeper than {MAX_DEPTH} levels"
    )
    # Moving a subtree counts its height: u2 (15 levels down to u16) cannot go under u3's leaf.
    _unit(api, acme, "side")
    _unit(api, acme, "side-2", parent="side")
    move = api.patch(f"/v1/customers/{acme}/units/u2", json={"parent": "side-2"})
    _refused(move, 409, "parent")


def test_monthly_cap_periods_start_on_the_anchor_day_clamped() -> None:
    def period(anchor: str, now: str) -> tuple[int, int]:
        return period_of(at(anchor), at(now))

    jan31 = "2026-01-31T15:00:00+00:00"
    assert period(jan31, "2026-02-15T00:00:00+00:00") == (
        at("2026-01-31T00:00:00+00:00"),
        at("2026-02-28T00:00:00+00:00"),
    )
    assert period(jan31, "2026-03-01T00:00:00+00:00") == (
        at("2026-02-28T00:00:00+00:00"),
        at("2026-03-31T00:00:00+00:00"),
    )
    assert period("2026-09-20T08:00:00+00:00", "2026-12-31T23:00:00+00:00") == (
        at("2026-12-20T00:00:00+00:00"),
        at("2027-01-20T00:00:00+00:00"),
    )


def _signals(api: Api, unit: str | None, n: int) -> None:
    items = [
        {
            "event_name": "meeting_booked",
            "customer": "acme",
            "timestamp": "2026-10-15T09:00:00Z",
            "idempotency_key": f"cap-{next(_n)}",
            **({"unit": unit} if unit else {}),
        }
        for _ in range(n)
    ]
    ok(api.post("/v1/signals", json={"items": items}, scope="ingest"))


def test_a_cap_refuses_the_units_check_once_its_subtree_burned_it(api: Api) -> None:
    set_clock(api, NOW)
    acme = customer(api)
    feature = {
        "key": "meetings",
        "backed_by": "signals",
        "event_name": "meeting_booked",
        "credit_currency": "meetings",
    }
    ok(api.post("/v1/features", json=feature), 201)
    ok(api.post("/v1/features", json={"key": "sso", "backed_by": "none"}), 201)
    ents = f"/v1/customers/{acme}/entitlements"
    ok(api.put(ents, json={"feature": "meetings", "kind": "boolean"}))
    ok(api.put(ents, json={"feature": "sso", "kind": "boolean"}))
    grant = {"currency": "meetings", "amount": "100", "effective_at": "2026-10-01T00:00:00Z"}
    ok(api.post(f"/v1/customers/{acme}/credits/grants", json=grant), 201)
    _unit(api, acme, "team-a")
    _unit(api, acme, "squad-1", parent="team-a")
    _unit(api, acme, "team-b")
    base = f"/v1/customers/{acme}/units"
    cap = {"amount": "5", "currency": "meetings", "effective_from": "2026-09-20T08:00:00Z"}
    before = ok(api.get(f"{base}/team-a", scope="read"))
    for bad, field in [
        ({**cap, "amount": "0"}, "amount"),
        ({**cap, "amount": "1.0000000001"}, "amount"),
        ({**cap, "amount": 1.0000000001}, "amount"),
        ({**cap, "amount": " 5"}, "amount"),
        ({**cap, "frequency": "WEEKLY"}, "frequency"),
        ({**cap, "currency": "Not A Key"}, "currency"),
        ({**cap, "effective_from": "yesterday"}, "effective_from"),
    ]:
        _refused(api.put(f"{base}/team-a/cap", json=bad), 422, field)
    assert ok(api.get(f"{base}/team-a", scope="read")) == before
    _refused(api.get(f"{base}/team-a/cap", scope="read"), 404, "cap")
    made = ok(api.put(f"{base}/team-a/cap", json=cap))
    assert made["cap"] == {
        "amount": "5",
        "frequency": "MONTHLY",
        "credit_currency": "meetings",
        "effective_from": "2026-09-20T08:00:00Z",
        "created_at": at(NOW),
        "period": {
            "start": "2026-09-20T00:00:00Z",
            "end": "2026-10-20T00:00:00Z",
            "used": "0",
            "remaining": "5",
        },
    }

    def access(unit: str | None, key: str = "meetings") -> bool:
        params = {} if unit is None else {"unit": unit}
        return bool(ok(api.get(f"{ents}/{key}", params=params, scope="read"))["has_access"])

    _signals(api, "squad-1", 3)
    _signals(api, "team-b", 9)
    _signals(api, None, 9)
    assert (access("team-a"), access("squad-1")) == (True, True)
    _signals(api, "team-a", 2)  # 3 under it + 2 of its own: the cap of 5 is reached
    period = ok(api.get(f"{base}/team-a/cap", scope="read"))["cap"]["period"]
    assert (period["used"], period["remaining"]) == ("5", "0")
    assert (access("team-a"), access("squad-1")) == (False, False)  # squad-1: its parent's cap
    assert (access("team-b"), access(None), access("team-a", "sso")) == (True, True, True)
    # A cap that starts later is scheduled: no period yet, no refusal.
    later = ok(api.put(f"{base}/team-a/cap", json={**cap, "effective_from": "2026-11-01"}))
    assert later["cap"]["period"] is None
    assert access("team-a") is True
    ok(api.put(f"{base}/team-a/cap", json={**cap, "amount": "5.5"}))
    assert access("squad-1") is True  # 5 of 5.5
    ok(api.put(f"{base}/squad-1/cap", json={**cap, "amount": "3"}))
    assert (access("squad-1"), access("team-a")) == (False, True)
    assert api.delete(f"{base}/squad-1/cap").status_code == 204
    _refused(api.delete(f"{base}/squad-1/cap"), 404, "cap")
    assert access("squad-1") is True


def test_units_cli_parent_type_and_cap(tmp_path: Path) -> None:
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

    def run(*args: str, code: int = 0) -> Any:
        out = CliRunner().invoke(app, [*args, *common, *(["--json"] if code == 0 else [])])
        assert out.exit_code == code, out.output
        return json.loads(out.stdout) if code == 0 else out.output

    run("units", "add", "acme", "org")
    team = run("units", "add", "acme", "team-a", "--parent", "org", "--type", "team")
    assert (team["parent"], team["external_type"]) == ("org", "team")
    assert "error: parent: the customer has no unit 'nobody'" in run(
        "units", "add", "acme", "x", "--parent", "nobody", code=2
    )
    capped = run("units", "cap", "acme", "team-a", "2.5", "--currency", "meetings")
    assert (capped["cap"]["amount"], capped["cap"]["credit_currency"]) == ("2.5", "meetings")
    assert "error: amount: must be positive" in run(
        "units", "cap", "acme", "team-a", "0", "--currency", "meetings", code=2
    )
    out = CliRunner().invoke(app, ["units", "uncap", "acme", "team-a", *common])
    assert out.exit_code == 0, out.output
    assert run("units", "list", "acme")[1]["cap"] is None
    assert "error: unit: 'org' has units under it" in run("units", "remove", "acme", "org", code=2)
