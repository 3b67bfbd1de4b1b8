"""The billing CLI on a SQLite store: generate, list, show (HTML), finalize, void, reports."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from margin.cli_billing import app
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import create_key, create_org


def test_cli_invoices_and_reports(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.resolved_database_url)
    db.upgrade()
    with db.write() as conn:
        org = create_org(conn, "acme")
        _key, secret = create_key(conn, org, "admin")
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings, db=db, migrate=False)) as client:
        client.post("/v1/customers", json={"external_id": "acme"}, headers=headers)
        client.post(
            "/v1/plans",
            headers=headers,
            json={
                "key": "p",
                "currency": "USD",
                "fees": [{"key": "f", "amount": "100"}],
                "outcomes": [{"event_name": "won", "price": "7"}],
            },
        )
        client.post(
            "/v1/orders",
            headers=headers,
            json={"customer": "acme", "plan": "p", "starts_at": "2026-10-01"},
        )
        client.post(
            "/v1/signals",
            headers=headers,
            json={"event_name": "won", "customer": "acme", "timestamp": "2026-10-02T00:00:00Z"},
        )
    db.dispose()
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path), "--org", org]
    out = runner.invoke(app, ["invoices", "generate", "--period", "2026-10", "--json", *common])
    assert out.exit_code == 0, out.output
    assert '"total": "107"' in out.output
    invoice_id = out.output.split('"id": "')[1].split('"')[0]
    page = tmp_path / "inv.html"
    shown = runner.invoke(app, ["invoices", "show", invoice_id, "--html", str(page), *common])
    assert shown.exit_code == 0
    assert "107" in page.read_text()
    final = runner.invoke(app, ["invoices", "finalize", invoice_id, *common])
    assert final.exit_code == 0
    assert "INV-" in final.output
    again = runner.invoke(app, ["invoices", "finalize", invoice_id, *common])
    assert again.exit_code == 2
    voided = runner.invoke(app, ["invoices", "void", invoice_id, "--reason", "test", *common])
    assert voided.exit_code == 0
    assert "void" in voided.output
    bad = runner.invoke(app, ["invoices", "generate", "--period", "2026-13", *common])
    assert bad.exit_code == 2
    report = runner.invoke(
        app, ["report", "margin", "--from", "2026-10-01", "--to", "2026-11-01", "--csv", *common]
    )
    assert report.exit_code == 0, report.output
    assert ",acme,USD,0,107,107,100,1,0,0" in report.output
    per = runner.invoke(
        app,
        [
            "report",
            "cost-per-outcome",
            "won",
            "--from",
            "2026-10-01",
            "--to",
            "2026-11-01",
            *common,
        ],
    )
    assert per.exit_code == 0
    assert "1 outcomes" in per.output
