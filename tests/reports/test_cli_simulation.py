"""``margin plans simulate`` and ``margin report margin --by-currency`` on a SQLite store:
the same services as the API, straight on the store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from margin.billing.orders import OrderIn, create_order
from margin.billing.plans import PlanIn, create_plan
from margin.cli_billing import app
from margin.pricing import Pricer
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_org


def _store(tmp_path: Path) -> str:
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.resolved_database_url)
    db.upgrade()
    with db.write() as conn:
        org = create_org(conn, "acme")
        CUSTOMERS.upsert(conn, org, {"external_id": "acme", "name": "Acme Corp"})
        plan = {
            "key": "p",
            "currency": "USD",
            "fees": [{"key": "f", "amount": "100"}],
            "outcomes": [{"event_name": "won", "price": "7.125"}],
        }
        create_plan(conn, org, PlanIn.model_validate(plan))
        order = {"customer": "acme", "plan": "p", "starts_at": "2026-10-01"}
        create_order(conn, org, OrderIn.model_validate(order))
    ledger = Ledger(db, Pricer(db), settings)
    signals = [
        {"event_name": "won", "customer": "acme", "timestamp": f"2026-10-0{d}T00:00:00Z"}
        for d in (2, 3)
    ]
    assert ledger.ingest_signals(org, signals).ingested == 2
    db.dispose()
    return org


def test_cli_plans_simulate(tmp_path: Path) -> None:
    org = _store(tmp_path)
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path), "--org", org]
    same = runner.invoke(app, ["plans", "simulate", "p", "--from", "2026-10", "--json", *common])
    assert same.exit_code == 0, same.output
    result = json.loads(same.stdout)
    [row] = result["customers"]
    # 100 + 2 × 7.125 = 114.25 (a line is rounded, 14.25 needs no rounding).
    assert row["actual"]["revenue"] == row["candidate"]["revenue"] == "114.25"
    assert (result["replaces"], result["orders_replaced"], result["currency"]) == ("p", 1, "USD")
    candidate = tmp_path / "cheaper.json"
    candidate.write_text(
        json.dumps(
            {
                "key": "p",
                "currency": "USD",
                "fees": [{"key": "f", "amount": "50"}],
                "outcomes": [{"event_name": "won", "price": "10"}],
            }
        )
    )
    args = ["plans", "simulate", str(candidate), "--from", "2026-10", "--customer", "acme"]
    cheaper = runner.invoke(app, [*args, "--json", *common])
    assert cheaper.exit_code == 0, cheaper.output
    [row] = json.loads(cheaper.stdout)["customers"]
    assert (row["actual"]["revenue"], row["candidate"]["revenue"]) == ("114.25", "70")
    assert row["change"] == {"revenue": "-44.25", "profit": None}  # no cost recorded: auto
    shown = runner.invoke(app, [*args, *common], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "Acme" in shown.output  # a name may wrap, never be cut
    assert "114.25" in shown.output
    assert "70.00" in shown.output
    missing = runner.invoke(app, ["plans", "simulate", "nope", "--from", "2026-10", *common])
    assert missing.exit_code == 2
    assert "no plan 'nope'" in missing.output
    future = runner.invoke(app, ["plans", "simulate", "p", "--from", "2199-01", *common])
    assert future.exit_code == 2
    assert "has not begun" in future.output


def test_cli_report_by_currency(tmp_path: Path) -> None:
    org = _store(tmp_path)
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path), "--org", org, "--from", "2026-10-01"]
    common += ["--to", "2026-11-01", "--json"]
    converted = json.loads(runner.invoke(app, ["report", "margin", *common]).stdout)
    assert (converted["currency"], converted["rates"]) == ("USD", [])
    split = json.loads(runner.invoke(app, ["report", "margin", "--by-currency", *common]).stdout)
    assert "currency" not in split
    assert [r["revenue"] for r in split["rows"]] == [r["revenue"] for r in converted["rows"]]
    assert [r["revenue"] for r in split["rows"]] == ["114.25"]
