"""``margin credits|entitlements|alerts|webhooks`` on a SQLite store, through the services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from margin.cli_control import APPS
from margin.pricing import Pricer
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_org

app = typer.Typer()
for _name, _sub in APPS:
    app.add_typer(_sub, name=_name)


def test_cli_control(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.resolved_database_url)
    db.upgrade()
    with db.write() as conn:
        org = create_org(conn, "acme")
        CUSTOMERS.upsert(conn, org, {"external_id": "acme"})
    common = ["--data-dir", str(tmp_path), "--org", org]
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        out = runner.invoke(app, [*args, *common, "--json"])
        assert out.exit_code == code, out.output
        return json.loads(out.stdout) if code == 0 else out.output

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
    assert run("entitlements", "set", "acme", "meetings", "--limit", "100")["limit"] == "100"
    run(
        "credits",
        "grant",
        "acme",
        "--currency",
        "meetings",
        "--amount",
        "100",
        "--expires-at",
        "2099-01-01T00:00:00Z",
    )
    run(
        "alerts",
        "add",
        "80 percent",
        "--metric",
        "usage",
        "--feature",
        "meetings",
        "--per",
        "customer",
        "--threshold",
        "80%",
    )
    ledger = Ledger(db, Pricer(db), settings)
    items = [{"event_name": "meeting_booked", "customer": "acme"} for _ in range(3)]
    assert ledger.ingest_signals(org, items, dedupe="none").ingested == 3
    db.dispose()
    answer = run("entitlements", "check", "acme", "meetings")
    assert (answer["has_access"], answer["usage"], answer["balance"]) == (True, "3", "97")
    assert run("credits", "balances", "acme") == [
        {"currency": "meetings", "balance": "97", "granted": "100", "overage": "0"}
    ]
    assert [r["cause"] for r in run("credits", "ledger", "acme")] == ["grant", "usage"]
    assert [e["feature"] for e in run("entitlements", "list", "acme")] == ["meetings"]
    assert run("alerts", "rules")[0]["thresholds"] == ["80%"]
    assert run("alerts", "list") == []
    endpoint = run("webhooks", "add", "http://127.0.0.1:9/hook", "--event", "alert.triggered")
    assert endpoint["secret"].startswith("whsec_")
    rotated = run("webhooks", "rotate", endpoint["id"])
    assert rotated["secret"] != endpoint["secret"]
    assert [e["id"] for e in run("webhooks", "list")] == [endpoint["id"]]
    assert run("webhooks", "log") == []
    assert "amount" in run(
        "credits", "grant", "acme", "--currency", "meetings", "--amount", "-3", code=2
    )
    assert "no customer" in run("credits", "balances", "nobody", code=2)
    assert "no webhook delivery" in run("webhooks", "replay", "whd_x", code=2)
    # A refusal from below the control plane (the entitlement rule is billing's) is one line.
    refused = run("entitlements", "set", "acme", "nope", code=2)
    assert refused.strip().splitlines()[-1] == "error: feature: no feature 'nope'"
    assert "Traceback" not in refused
    # Without --json: a table with the same exact figures.
    table = runner.invoke(app, ["credits", "balances", "acme", *common], env={"COLUMNS": "120"})
    assert table.exit_code == 0, table.output
    [header] = [line for line in table.stdout.splitlines() if "┃" in line]
    [row] = [line for line in table.stdout.splitlines() if "│" in line]
    assert [c.strip() for c in header.split("┃")[1:5]] == [
        "currency",
        "balance",
        "granted",
        "overage",
    ]
    assert [c.strip() for c in row.split("│")[1:5]] == ["meetings", "97", "100", "0"]
    empty = runner.invoke(app, ["alerts", "list", *common])
    assert empty.stdout.strip() == "none"
