"""The billing CLI on a SQLite store: generate, list, show (HTML), finalize and void (with
their confirmations), and the margin reports (table, JSON, CSV)."""

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
    signal = {"event_name": "won", "customer": "acme", "timestamp": "2026-10-02T00:00:00Z"}
    assert ledger.ingest_signals(org, [signal]).ingested == 1
    db.dispose()
    return org


def test_cli_invoices(tmp_path: Path) -> None:
    org = _store(tmp_path)
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path), "--org", org]
    out = runner.invoke(app, ["invoices", "generate", "--period", "2026-10", "--json", *common])
    assert out.exit_code == 0, out.output
    [invoice] = json.loads(out.stdout)
    # 7.125 rounds half-even to 7.12 (the line is rounded; the total is the sum of lines).
    assert [line["amount"] for line in invoice["lines"]] == ["100", "7.12"]
    assert invoice["total"] == "107.12"
    listed = runner.invoke(app, ["invoices", "list", *common], env={"COLUMNS": "80"})
    assert listed.exit_code == 0
    # At 80 columns the table would cut the id: the invoice prints as a block, id whole.
    assert f"id        {invoice['id']}" in listed.output.splitlines()
    assert "total     107.12" in listed.output.splitlines()
    page = tmp_path / "inv.html"
    shown = runner.invoke(app, ["invoices", "show", invoice["id"], "--html", str(page), *common])
    assert shown.exit_code == 0
    html = page.read_text()
    assert "107.12 USD" in html
    assert "Acme Corp" in html
    # Finalizing asks first; "no" changes nothing.
    kept = runner.invoke(app, ["invoices", "finalize", invoice["id"], *common], input="n\n")
    assert kept.exit_code == 1
    again = runner.invoke(app, ["invoices", "show", invoice["id"], *common])
    assert json.loads(again.stdout)["status"] == "draft"
    final = runner.invoke(app, ["invoices", "finalize", invoice["id"], *common], input="y\n")
    assert final.exit_code == 0, final.output
    assert "INV-" in final.output
    twice = runner.invoke(app, ["invoices", "finalize", invoice["id"], "--yes", *common])
    assert twice.exit_code == 2
    assert "only a draft can be finalized" in twice.output
    voided = runner.invoke(
        app, ["invoices", "void", invoice["id"], "--reason", "test", "--yes", *common]
    )
    assert voided.exit_code == 0
    assert "void" in voided.output
    bad = runner.invoke(app, ["invoices", "generate", "--period", "2026-13", *common])
    assert bad.exit_code == 2
    assert "2026-13" in bad.output


def test_cli_reports(tmp_path: Path) -> None:
    org = _store(tmp_path)
    runner = CliRunner()
    common = [
        "--data-dir",
        str(tmp_path),
        "--org",
        org,
        "--from",
        "2026-10-01",
        "--to",
        "2026-11-01",
    ]
    csv = runner.invoke(app, ["report", "margin", "--csv", *common])
    assert csv.exit_code == 0, csv.output
    # acme (auto) has an order, so revenue is tracked; no cost was ever recorded: null.
    assert ",Acme Corp,USD,,107.12,,,1,0,0,,,\n" in csv.output
    table = runner.invoke(app, ["report", "margin", "--group-by", "customer", *common])
    assert table.exit_code == 0
    assert "│ Acme Corp │ USD      │    — │  107.12 │      — │        — │" in table.output
    assert "│ Total     │ USD      │    — │  107.12 │      — │        — │" in table.output
    as_json = runner.invoke(app, ["report", "margin", "--group-by", "customer", "--json", *common])
    body = json.loads(as_json.stdout)
    assert body["rows"][0]["revenue"] == "107.12"
    assert body["totals"] == [
        {"currency": "USD", "cost": None, "revenue": "107.12", "profit": None, "margin_pct": None}
    ]
    bad = runner.invoke(app, ["report", "margin", "--group-by", "planet", *common])
    assert bad.exit_code == 2
    per = runner.invoke(app, ["report", "cost-per-outcome", "won", *common])
    assert per.exit_code == 0
    assert "1 outcomes" in per.output
