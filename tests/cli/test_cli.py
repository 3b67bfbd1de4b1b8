"""The ``margin`` command: organizations, keys, prices and costs reprice in-process (Typer's
runner); the store it uses and how it fails (one line, no traceback, no secrets) and the
version as a user's shell runs them, in a process of their own (``margin serve``'s own
output: ``test_serve``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from margin import cli as margin_cli
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import authenticate, create_org

MARGIN = str(Path(sys.executable).with_name("margin"))
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def cli(data_dir: Path, *args: str) -> Result:
    """``margin ARGS --data-dir DATA_DIR`` in this process, with no other store configured."""
    margin_cli._mount_features()
    env = {"COLUMNS": "200", "MARGIN_DATABASE_URL": None, "MARGIN_DATA_DIR": None}
    return CliRunner().invoke(margin_cli.app, [*args, "--data-dir", str(data_dir)], env=env)


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
    created = cli(tmp_path, "keys", "create", "--scope", "read", "--name", "ci")
    assert created.exit_code == 0, created.stderr
    key_id, secret = created.stdout.split()[0], created.stdout.strip().splitlines()[-1]
    assert secret.startswith("mgn_read_")
    with db.read() as conn:
        principal = authenticate(conn, secret)
    assert principal is not None
    assert (principal.org_id, principal.scope) == (org_id, "read")
    listed = cli(tmp_path, "keys", "list")
    assert key_id in listed.stdout
    assert secret not in listed.stdout
    assert cli(tmp_path, "keys", "revoke", key_id).exit_code == 1  # not confirmed
    with db.read() as conn:
        assert authenticate(conn, secret) is not None
    assert cli(tmp_path, "keys", "revoke", key_id, "--yes").exit_code == 0
    with db.read() as conn:
        assert authenticate(conn, secret) is None
    assert cli(tmp_path, "keys", "revoke", key_id, "--yes").exit_code == 1
    bad = cli(tmp_path, "keys", "create", "--scope", "root")
    assert bad.exit_code == 2
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
    quote = cli(
        tmp_path,
        "prices",
        "quote",
        "gpt-4o-mini",
        "--provider",
        "openai",
        "--usage",
        '{"input_tokens": 1000000}',
    )
    assert quote.exit_code == 0, quote.stderr
    assert quote.stdout.startswith("0.15 USD (catalog")
    shown = cli(tmp_path, "prices", "show", "gpt-4o-mini", "--provider", "openai")
    assert "input_tokens" in shown.stdout
    assert "0.15" in shown.stdout
    assert (
        cli(
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
        ).exit_code
        == 0
    )
    bad = cli(tmp_path, "prices", "set", "x", "--price", "nonsense=1")
    assert bad.exit_code == 2
    assert "prices.nonsense" in bad.stderr
    window = ("--from", "2026-10-01", "--to", "2026-11-01")
    repriced = cli(tmp_path, "costs", "reprice", *window, "--yes", "--json")
    assert repriced.exit_code == 0, repriced.stderr
    body = json.loads(repriced.stdout)
    assert body["repriced"] == 1
    # 1M × $2 + 1M × $3 per M
    assert body["totals"] == [
        {"customer": "Total", "currency": "USD", "old": "0", "new": "5", "change": "5", "costs": 1}
    ]
    db.dispose()


def test_version_and_db_upgrade(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    assert (tmp_path / "margin.db").exists()
    from margin._version import __version__

    out = subprocess.run([MARGIN, "version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == __version__


def run_in(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``margin`` run from ``cwd`` with only the given MARGIN_* variables set."""
    return subprocess.run(
        [MARGIN, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": str(Path(sys.executable).parent), "COLUMNS": "200", **env},
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_orgs_create_and_list_then_keys_for_them(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    created = cli(tmp_path, "orgs", "create", "Acme Corp")
    assert created.exit_code == 0, created.stderr
    org_id = created.stdout.strip()
    assert org_id.startswith("org_")
    assert f"store: SQLite file {(tmp_path / 'margin.db').resolve()}" in created.stderr
    other = cli(tmp_path, "orgs", "create", "Globex").stdout.strip()
    listed = cli(tmp_path, "orgs", "list", "--json")
    assert [(o["id"], o["name"]) for o in json.loads(listed.stdout)] == [
        (org_id, "Acme Corp"),
        (other, "Globex"),
    ]
    table = cli(tmp_path, "orgs", "list").stdout
    assert org_id in table  # never cut
    key = cli(tmp_path, "keys", "create", "--org", other, "--scope", "admin")
    assert key.exit_code == 0, key.stderr
    assert f"org {other}" in key.stdout
    assert cli(tmp_path, "orgs", "create", " ").exit_code == 2


def test_keys_create_for_a_missing_org_is_one_line(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").exit_code == 0
    no_org = _one_line_error(run(tmp_path, "keys", "create"))
    assert "margin orgs create" in no_org
    cli(tmp_path, "orgs", "create", "acme")
    missing = _one_line_error(run(tmp_path, "keys", "create", "--org", "org_nope"))
    assert "no organization org_nope" in missing
    assert "margin orgs list" in missing


def test_a_command_never_creates_a_store_where_there_is_none(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (("keys", "create"), ("keys", "list"), ("orgs", "list"), ("orgs", "create", "x")):
        result = run_in(elsewhere, *args)
        line = _one_line_error(result)
        assert str(elsewhere / ".margin" / "margin.db") in line, args
        assert "margin serve" in line
        assert "--data-dir" in line
        assert list(elsewhere.iterdir()) == [], args  # no ./.margin made


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_postgres_urls_as_users_type_them_and_no_password_printed(
    store_kind: str, empty_url: str, tmp_path: Path
) -> None:
    url = make_url(empty_url)
    # Trust authentication ignores the password; it must still never be printed.
    typed = f"postgres://{url.username}:s3cret-pw@{url.host}:{url.port}/{url.database}"
    upgraded = run_in(tmp_path, "db", "upgrade", MARGIN_DATABASE_URL=typed)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "s3cret-pw" not in upgraded.stdout + upgraded.stderr
    assert f"postgres:***@{url.host}:{url.port}/{url.database}" in upgraded.stdout
    spelled = typed.replace("postgres://", "postgresql://", 1)
    org = run_in(tmp_path, "orgs", "create", "acme", MARGIN_DATABASE_URL=spelled)
    assert org.returncode == 0, org.stderr
    key = run_in(tmp_path, "keys", "create", "--scope", "read", MARGIN_DATABASE_URL=spelled)
    assert key.returncode == 0, key.stderr
    assert "s3cret-pw" not in key.stdout + key.stderr
    assert list(tmp_path.iterdir()) == []  # nothing made on disk for a PostgreSQL store


def test_database_failures_are_one_line_without_the_password(tmp_path: Path) -> None:
    unreachable = "postgresql://margin:s3cret-pw@127.0.0.1:9/margin"
    for args in (("db", "upgrade"), ("keys", "list")):
        result = run_in(tmp_path, *args, MARGIN_DATABASE_URL=unreachable)
        line = _one_line_error(result)
        assert "s3cret-pw" not in result.stdout + result.stderr
        assert "margin:***@127.0.0.1:9/margin" in line
        assert "Check that it runs" in line
    missing_db = make_url(os.environ.get("MARGIN_TEST_POSTGRES_URL", PG)).set(
        database="margin_no_such_database"
    )
    line = _one_line_error(
        run_in(tmp_path, "keys", "list", MARGIN_DATABASE_URL=missing_db.render_as_string(False))
    )
    assert "does not exist" in line
    assert "createdb" in line
    other = _one_line_error(run_in(tmp_path, "keys", "list", MARGIN_DATABASE_URL="mysql://u:p@h/x"))
    assert "SQLite or PostgreSQL" in other
    assert ":p@" not in other
    bad = _one_line_error(run_in(tmp_path, "keys", "list", MARGIN_MAX_BODY_BYTES="lots"))
    assert "MARGIN_MAX_BODY_BYTES" in bad
