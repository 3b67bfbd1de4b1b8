"""The ``margin`` command, run as a user would: keys, db upgrade, prices, costs reprice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import authenticate, create_org

MARGIN = str(Path(sys.executable).with_name("margin"))


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MARGIN, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(Path(sys.executable).parent), "COLUMNS": "200"},
    )


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'margin.db'}")
    db.upgrade()
    with db.write() as conn:
        org_id = create_org(conn, "acme")
    created = run(tmp_path, "keys", "create", "--scope", "read", "--name", "ci")
    assert created.returncode == 0, created.stderr
    key_id, secret = created.stdout.split()[0], created.stdout.strip().splitlines()[-1]
    assert secret.startswith("mgn_read_")
    with db.read() as conn:
        principal = authenticate(conn, secret)
    assert principal is not None
    assert (principal.org_id, principal.scope) == (org_id, "read")
    listed = run(tmp_path, "keys", "list")
    assert key_id in listed.stdout
    assert secret not in listed.stdout
    assert run(tmp_path, "keys", "revoke", key_id).returncode == 0
    with db.read() as conn:
        assert authenticate(conn, secret) is None
    assert run(tmp_path, "keys", "revoke", key_id).returncode == 1
    bad = run(tmp_path, "keys", "create", "--scope", "root")
    assert bad.returncode == 2
    db.dispose()


def test_prices_set_show_quote_and_reprice(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'margin.db'}")
    db.upgrade()
    with db.write() as conn:
        org_id = create_org(conn, "acme")
    app = create_app(Settings(data_dir=tmp_path), db=db, migrate=False)
    ledger_state = app.state.margin
    from margin.server.ledger import Ledger

    ledger = Ledger(db, ledger_state.pricer, ledger_state.settings)
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    ledger.ingest_costs(
        org_id,
        [
            {
                "customer": "a",
                "provider": "acme-ai",
                "model": "house-1",
                "usage": usage,
                "timestamp": "2026-10-05T12:00:00Z",
            }
        ],
    )
    quote = run(
        tmp_path,
        "prices",
        "quote",
        "gpt-4o-mini",
        "--provider",
        "openai",
        "--usage",
        '{"input_tokens": 1000000}',
    )
    assert quote.returncode == 0, quote.stderr
    assert quote.stdout.startswith("0.15 USD (catalog")
    shown = run(tmp_path, "prices", "show", "gpt-4o-mini", "--provider", "openai")
    assert "input_tokens" in shown.stdout
    assert "0.15" in shown.stdout
    assert (
        run(
            tmp_path,
            "prices",
            "set",
            "house-*",
            "--price",
            "input=2",
            "--price",
            "output=3",
            "--from",
            "2026-01-01",
        ).returncode
        == 0
    )
    bad = run(tmp_path, "prices", "set", "x", "--price", "nonsense=1")
    assert bad.returncode == 2
    assert "prices.nonsense" in bad.stderr
    repriced = run(tmp_path, "costs", "reprice", "--from", "2026-10-01", "--to", "2026-11-01")
    assert repriced.returncode == 0, repriced.stderr
    assert "1 costs re-priced" in repriced.stdout
    assert "change: 5" in repriced.stdout  # 1M × $2 + 1M × $3 per M
    db.dispose()


def test_version_and_db_upgrade(tmp_path: Path) -> None:
    version = run(tmp_path, "db", "upgrade")
    assert version.returncode == 0
    assert (tmp_path / "margin.db").exists()
    from margin._version import __version__

    out = subprocess.run([MARGIN, "version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == __version__
