"""The worked example of docs/control.md and the README, run as written on both stores: an AI
SDR customer with 100 prepaid meetings, an alert at 80 % used and a webhook. Only the webhook
URL is swapped for a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from receiver import Receiver
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from margin._time import now_micros
from margin.cli_control import APPS
from margin.control.worker import ControlWorker
from margin.pricing import Pricer
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import CUSTOMERS

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_URL = "https://crm.example.com/hooks/margin"

app = typer.Typer()
for _name, _sub in APPS:
    app.add_typer(_sub, name=_name)


def example(path: Path) -> list[list[str]]:
    """The commands of the document's worked example, one argument list each."""
    found = re.search(r"## Worked example[^\n]*\n.*?```[a-z]*\n(.*?)```", path.read_text(), re.S)
    assert found, f"no worked example in {path}"
    commands = [shlex.split(line) for line in found.group(1).splitlines() if line.strip()]
    assert all(c[0] == "margin" for c in commands)
    return [c[1:] for c in commands]


def test_the_readme_and_the_control_page_show_the_same_example() -> None:
    assert example(ROOT / "README.md") == example(ROOT / "docs" / "control.md")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_the_worked_example_runs_as_documented(
    db: Database, tenant: Any, settings: Settings, receiver: Receiver
) -> None:
    runner = CliRunner()
    env = {"MARGIN_DATABASE_URL": db.url}

    def run(*args: str) -> Any:
        out = runner.invoke(app, [*args, "--org", tenant.org_id, "--json"], env=env)
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout)

    with db.write() as conn:  # the example's customer, as the agent's first signal makes it
        CUSTOMERS.upsert(conn, tenant.org_id, {"external_id": "acme"})
    secret = ""
    for command in example(ROOT / "docs" / "control.md"):
        answer = run(*[receiver.url if a == DOCUMENTED_URL else a for a in command])
        if command[:2] == ["webhooks", "add"]:
            secret = answer["secret"]
    assert secret

    ledger = Ledger(db, Pricer(db), settings)
    clock = [now_micros()]
    worker = ControlWorker(db, clock=lambda: clock[0])

    def tick() -> None:
        clock[0] += 11_000_000  # past the 10 s between two evaluations of the alert rules
        worker.tick()

    def book(n: int) -> None:
        items = [{"event_name": "meeting_booked", "customer": "acme"} for _ in range(n)]
        assert ledger.ingest_signals(tenant.org_id, items, dedupe="none").ingested == n

    def sent() -> list[str]:
        return [json.loads(r.body)["type"] for r in receiver.delivered()]

    try:
        book(80)
        tick()
        assert run("credits", "balances", "acme")[0]["balance"] == "20"
        assert run("alerts", "list") == []
        assert sent() == []
        book(1)  # the 81st: 19 left, below 20 % of 100
        tick()
        [fired] = run("alerts", "list")
        assert fired["state"] == "triggered"
        assert sent() == ["alert.triggered"]
        tick()  # evaluated again: a threshold fires once per period
        assert len(run("alerts", "list")) == 1
        assert sent() == ["alert.triggered"]
        book(19)  # the 100th
        tick()
        assert sent() == ["alert.triggered", "entitlement.exhausted"]
        check = run("entitlements", "check", "acme", "meetings")
        assert (check["has_access"], check["balance"], check["usage"]) == (False, "0", "100")
        for delivery in receiver.delivered():
            Webhook(secret).verify(delivery.body, delivery.headers)
    finally:
        worker.stop()
