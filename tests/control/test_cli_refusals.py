"""The control CLI refuses bad input as the API does: one ``error:`` line naming the field,
a non-zero exit, no traceback and nothing stored, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from margin.cli_control import APPS
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin_testing import Tenant

app = typer.Typer()
for _name, _sub in APPS:
    app.add_typer(_sub, name=_name)


@pytest.fixture
def run(db: Database, tenant: Tenant) -> Any:
    with db.write() as conn:
        CUSTOMERS.upsert(conn, tenant.org_id, {"external_id": "acme"})
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        common = ["--org", tenant.org_id, "--json"]
        return runner.invoke(app, [*args, *common], env={"MARGIN_DATABASE_URL": db.url})

    return invoke


def assert_refused(out: Any, field: str) -> None:
    assert out.exit_code not in (0, None), out.output
    assert isinstance(out.exception, SystemExit), out.exception
    # The store's one line (which store the command opened) is not the error's.
    lines = [x for x in out.output.strip().splitlines() if not x.startswith("store: ")]
    assert len(lines) == 1, out.output
    assert lines[0].startswith(f"error: {field}"), out.output


BAD_OBJECTS = {
    "surrogate": '{"a":"\\ud800"}',
    "nul": '{"a":"\\u0000"}',
    "nan": '{"a": NaN}',
    "big_int": '{"seats": 99999999999999999999999}',
    "deep": '{"a":' * 3000 + "1" + "}" * 3000,
    "not_an_object": "[1]",
}


@pytest.mark.parametrize("text", list(BAD_OBJECTS.values()), ids=list(BAD_OBJECTS))
def test_units_add_refuses_metadata_no_store_holds(run: Any, text: str) -> None:
    assert_refused(run("units", "add", "acme", "u2", "--metadata", text), "metadata")
    assert json.loads(run("units", "list", "acme").stdout) == []


@pytest.mark.parametrize("text", list(BAD_OBJECTS.values()), ids=list(BAD_OBJECTS))
def test_units_entitle_refuses_config_no_store_holds(run: Any, text: str) -> None:
    assert run("entitlements", "feature", "flag").exit_code == 0
    assert run("units", "add", "acme", "u1").exit_code == 0
    out = run("units", "entitle", "acme", "u1", "flag", "--kind", "static", "--config", text)
    assert_refused(out, "config")
    assert json.loads(run("entitlements", "list", "acme").stdout) == []


def test_webhooks_log_limit_is_bounded(run: Any) -> None:
    for limit in ("-5", "0", "1001"):
        out = run("webhooks", "log", "--limit", limit)
        assert out.exit_code == 2, out.output
        assert "--limit" in out.output
    assert run("webhooks", "log", "--limit", "1000").exit_code == 0


def test_alerts_list_takes_only_known_states(run: Any) -> None:
    out = run("alerts", "list", "--state", "wat")
    assert out.exit_code == 2, out.output
    assert "--state" in out.output
    assert run("alerts", "list", "--state", "triggered").exit_code == 0


def test_credits_grant_refuses_a_renewal_that_could_overflow(run: Any) -> None:
    args = ["--currency", "meetings", "--amount", "9000000000", "--recurrence", "day"]
    out = run("credits", "grant", "acme", *args, "--rollover-max", "9000000000")
    assert_refused(out, "rollover_max")
    assert json.loads(run("credits", "ledger", "acme").stdout) == []
