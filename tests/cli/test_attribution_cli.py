"""``margin attribution show|set`` on both stores: what the CLI writes the API reads, and
the CLI refuses what the API refuses."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from margin.cli_attribution import attribution_app
from margin.store.db import Database
from margin_testing import Api


def test_show_set_and_refuse(db: Database, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGIN_DATABASE_URL", db.url)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(attribution_app, list(args))
        return result.exit_code, result.stdout, result.stderr

    code, out, _err = run("show")
    assert code == 0
    assert "customer_keys: —" in out
    assert "agent_keys: service.name" in out
    code, out, err = run(
        "set", "--customer-key", "user.id", "--customer-key", "tenant.id", "--agent-key", "",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    body = orjson.loads(out)
    assert (body["customer_keys"], body["agent_keys"]) == (["user.id", "tenant.id"], [])
    code, _out, err = run("set", "--customer-key", "a", "--customer-key", "a")
    assert code == 2
    assert "customer_keys.1: 'a' is listed twice" in err
    assert run("set")[0] == 2
    shown = api.get("/v1/organization/attribution", scope="read").json()
    assert (shown["customer_keys"], shown["agent_keys"]) == (["user.id", "tenant.id"], [])
