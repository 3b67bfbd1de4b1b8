"""Arguments the ``margin`` command cannot take are refused before anything runs: bytes that
are not UTF-8 (which reach Python as lone surrogates, and no store holds), a day count past
1970, a list longer than the API serves. One line, no traceback, nothing stored, on SQLite
and PostgreSQL alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from margin import cli as margin_cli
from margin._calendar import last_days
from margin._time import to_micros
from margin.store.db import Database
from margin.store.schema import organizations
from margin_testing import Tenant

MARGIN = str(Path(sys.executable).with_name("margin"))


def _orgs(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(organizations)).scalar_one())


def test_an_argument_that_is_not_utf8_is_one_line_and_stores_nothing(db: Database) -> None:
    before = _orgs(db)
    env = {"PATH": os.environ["PATH"], "MARGIN_DATABASE_URL": db.url, "COLUMNS": "200"}
    done = subprocess.run(
        [MARGIN.encode(), b"orgs", b"create", b"caf\xe9"], capture_output=True, env=env, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.decode().strip() == r"error: an argument is not valid UTF-8: 'caf\udce9'"
    assert b"Traceback" not in done.stdout + done.stderr
    assert _orgs(db) == before


def _invoke(db: Database, tenant: Tenant, *args: str) -> object:
    margin_cli._mount_features()
    env = {"MARGIN_DATABASE_URL": db.url, "COLUMNS": "200"}
    return CliRunner().invoke(margin_cli.app, [*args, "--org", tenant.org_id], env=env)


def test_more_days_than_since_1970_report_from_1970(db: Database, tenant: Tenant) -> None:
    out = _invoke(db, tenant, "report", "summary", "--days", "99999999999999", "--json")
    assert out.exit_code == 0, out.output  # type: ignore[attr-defined]
    text = out.stdout  # type: ignore[attr-defined]
    body = json.loads(text[text.index("{") :])
    assert body["from"].startswith("1970-01-01T")
    for days in ("0", "-3"):
        refused = _invoke(db, tenant, "report", "summary", "--days", days)
        assert refused.exit_code == 2  # type: ignore[attr-defined]
        assert "--days" in refused.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", ["0", "1001", "99999999999999999999999"])
def test_fx_list_takes_at_most_what_the_api_serves(
    db: Database, tenant: Tenant, limit: str
) -> None:
    out = _invoke(db, tenant, "fx", "list", "--limit", limit)
    assert out.exit_code == 2, out.output  # type: ignore[attr-defined]
    assert "--limit" in out.output  # type: ignore[attr-defined]
    assert "Traceback" not in out.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles", "UTC"])
def test_last_days_stop_at_1970(zone: str) -> None:
    now = to_micros(datetime(2026, 10, 5, 12, tzinfo=UTC))
    lo, hi = last_days(now, ZoneInfo(zone), 10**12)
    assert lo == max(to_micros(datetime(1970, 1, 1, tzinfo=ZoneInfo(zone))), 0)
    assert hi == last_days(now, ZoneInfo(zone), 1)[1]
