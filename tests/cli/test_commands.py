"""The ``margin`` command as a user runs it, in-process on a real store (SQLite and
PostgreSQL): ``--json`` (and ``--csv``) on every read command with exact amounts, tables at
80 columns that keep ids whole and round money, the re-pricing dry run, and the
confirmations before irreversible changes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner, Result

from margin import cli as margin_cli
from margin.billing.orders import OrderIn, create_order
from margin.billing.plans import PlanIn, create_plan
from margin.pricing import Pricer
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_key, create_org

runner = CliRunner()
OCTOBER = ("--from", "2026-10-01", "--to", "2026-11-01")
PLAN = {
    "key": "p",
    "currency": "USD",
    "fees": [{"key": "f", "amount": "100"}],
    "outcomes": [{"event_name": "won", "price": "7.125"}],
}
#: Commands that read: each answers --json; the tabular ones --csv too.
READ = {
    ("orgs", "list"): True,
    ("keys", "list"): True,
    ("report", "summary"): True,
    ("report", "margin"): True,
    ("report", "cost-per-outcome"): False,
    ("invoices", "list"): True,
    ("invoices", "generate"): False,
    ("prices", "show"): False,
    ("prices", "quote"): False,
    ("costs", "reprice"): False,
    ("org", "show"): False,
    ("fx", "list"): True,
    ("fx", "convert"): False,
}


@dataclass
class Shop:
    db: Database
    org: str
    read_key: str
    env: dict[str, str | None]
    data_dir: Path

    def run(self, *args: str, answer: str | None = None, columns: int = 80) -> Result:
        env = {**self.env, "COLUMNS": str(columns)}
        return runner.invoke(margin_cli.app, list(args), input=answer, env=env)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def shop(db: Database, store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Shop:
    margin_cli._mount_features()
    env: dict[str, str | None] = {"MARGIN_DATA_DIR": str(tmp_path), "MARGIN_DATABASE_URL": None}
    if store_kind == "postgres":
        env["MARGIN_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    with db.write() as conn:
        org = create_org(conn, "acme")
        _key, secret = create_key(conn, org, "read", "cli")
        CUSTOMERS.upsert(conn, org, {"external_id": "acme", "name": "Acme Corp"})
        CUSTOMERS.upsert(conn, org, {"external_id": "globex", "name": "Globex"})
        create_plan(conn, org, PlanIn.model_validate(PLAN))
        for customer in ("acme", "globex"):
            order = {"customer": customer, "plan": "p", "starts_at": "2026-10-01"}
            create_order(conn, org, OrderIn.model_validate(order))
    ledger = Ledger(db, Pricer(db), Settings(data_dir=tmp_path))
    won = [("acme", "2026-10-02T00:00:00Z"), ("globex", "2026-10-03T00:00:00Z")]
    won.append(("globex", "2026-10-04T00:00:00Z"))
    signals = [{"event_name": "won", "customer": c, "timestamp": t} for c, t in won]
    assert ledger.ingest_signals(org, signals).ingested == 3
    costs = [
        {
            "customer": "acme",
            "provider": "openai",
            "model": "gpt-4o",
            "amount": "0.123456789",
            "currency": "USD",
            "timestamp": "2026-10-02T01:00:00Z",
        },
        {  # priced by the catalog: 1M input tokens × $0.15 per M
            "customer": "globex",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "usage": {"input_tokens": 1_000_000},
            "timestamp": "2026-10-03T01:00:00Z",
        },
    ]
    assert ledger.ingest_costs(org, costs).ingested == 2
    return Shop(db, org, secret, env, tmp_path)


def test_every_read_command_answers_json_and_the_tabular_ones_csv() -> None:
    margin_cli._mount_features()
    root: Any = get_command(margin_cli.app)
    for (group, name), tabular in READ.items():
        command = root.commands[group].commands[name]
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        assert "--json" in options, (group, name)
        assert ("--csv" in options) == tabular, (group, name)


#: Output only: the services under it are tested on both stores.
sqlite_only = pytest.mark.parametrize("store_kind", ["sqlite"])


@sqlite_only
def test_read_commands_in_json_are_exact(shop: Shop) -> None:
    [org] = shop.json("orgs", "list")
    assert (org["id"], org["name"]) == (shop.org, "acme")
    [key] = shop.json("keys", "list")
    assert (key["org_id"], key["scope"], key["revoked_at"]) == (shop.org, "read", None)
    report = shop.json("report", "margin", *OCTOBER)
    assert report["totals"] == [
        {
            "currency": "USD",
            "cost": "0.273456789",
            "revenue": "221.37",  # 2 × 100 + 7.12 + 14.25
            "profit": "221.096543211",
            "margin_pct": "99.88",
        }
    ]
    assert [(r["label"], r["cost"]) for r in report["rows"]] == [
        ("Globex", "0.15"),
        ("Acme Corp", "0.123456789"),
    ]
    outcome = shop.json("report", "cost-per-outcome", "won", *OCTOBER)
    assert [r["outcomes"] for r in outcome["rows"]] == [3]
    drafts = shop.json("invoices", "generate", "--period", "2026-10")
    assert sorted(d["total"] for d in drafts) == ["107.12", "114.25"]
    listed = shop.json("invoices", "list")
    assert sorted(i["id"] for i in listed) == sorted(d["id"] for d in drafts)
    shown = shop.run("invoices", "show", drafts[0]["id"])
    assert json.loads(shown.stdout)["id"] == drafts[0]["id"]
    catalog = shop.json("prices", "show", "gpt-4o-mini", "--provider", "openai")
    assert {p["kind"]: p["price"] for p in catalog["prices"]}["input_tokens"] == "0.15"
    assert shop.json("org", "show")["id"] == shop.org
    assert shop.json("fx", "list") == []
    usage = ("--usage", '{"input_tokens": 1234567}')
    quote = shop.json("prices", "quote", "gpt-4o-mini", "--provider", "openai", *usage)
    assert (quote["amount"], quote["currency"]) == ("0.18518505", "USD")
    preview = shop.json("costs", "reprice", *OCTOBER, "--dry-run")
    assert (preview["repriced"], preview["already_priced_skipped"]) == (0, 1)
    csv = shop.run("report", "margin", *OCTOBER, "--csv").stdout.splitlines()
    assert csv[1].startswith("cus_")
    assert ",Globex,USD,0.15,114.25," in csv[1]


@sqlite_only
def test_tables_at_80_columns_keep_ids_whole_and_round_money(shop: Shop) -> None:
    drafts = shop.json("invoices", "generate", "--period", "2026-10")
    narrow = shop.run("invoices", "list").stdout.splitlines()
    assert all(len(line) <= 80 for line in narrow)
    for draft in drafts:
        assert f"id        {draft['id']}" in narrow
    assert "total     107.12" in narrow
    assert "total     221.37" in narrow  # the totals block
    wide = shop.run("invoices", "list", columns=200).stdout
    assert wide.count("│ Total ") == 1
    assert "221.37" in wide
    report = shop.run("report", "margin", "--group-by", "customer", *OCTOBER).stdout
    assert "│ Acme Corp │ USD      │ 0.12 │  107.12 │ 107.00 │    99.88 │        1 │" in report
    assert "│ Total     │ USD      │ 0.27 │  221.37 │ 221.10 │    99.88 │          │" in report
    keys = shop.run("keys", "list").stdout
    [key] = shop.json("keys", "list")
    assert key["id"] in keys


def test_reprice_shows_the_change_first_and_asks(shop: Shop) -> None:
    override = ("prices", "set", "gpt-4o-mini", "--provider", "openai", "--price", "input=0.2")
    assert shop.run(*override, "--from", "2026-01-01", "--yes").exit_code == 0
    plain = shop.run("costs", "reprice", *OCTOBER)
    assert plain.exit_code == 0
    assert "1 costs already priced (catalog or override) were left as they are" in plain.stdout
    assert "pass --all" in plain.stdout
    dry = shop.run("costs", "reprice", *OCTOBER, "--all", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "1 costs would change (dry run)" in dry.stdout
    assert "│ globex   │ USD      │     1 │ 0.15 │ 0.20 │   0.05 │" in dry.stdout
    assert "│ Total    │ USD      │     1 │ 0.15 │ 0.20 │   0.05 │" in dry.stdout
    refused = shop.run("costs", "reprice", *OCTOBER, "--all", answer="n\n")
    assert refused.exit_code == 1
    assert "not confirmed: nothing changed" in refused.stderr
    assert shop.json("report", "margin", *OCTOBER)["totals"][0]["cost"] == "0.273456789"
    done = shop.run("costs", "reprice", *OCTOBER, "--all", "--yes")
    assert done.exit_code == 0, done.output
    assert "1 costs re-priced" in done.stdout
    assert "Re-pricing" in done.stderr  # the progress bar, on stderr
    assert shop.json("report", "margin", *OCTOBER)["totals"][0]["cost"] == "0.323456789"
    body = shop.json("costs", "reprice", *OCTOBER, "--all", "--dry-run")
    assert (body["repriced"], body["costs"]) == (0, [])


def test_finalize_and_void_ask_first(shop: Shop) -> None:
    [draft, _] = shop.json("invoices", "generate", "--period", "2026-10")
    unasked = shop.run("invoices", "finalize", draft["id"])  # nobody to answer
    assert unasked.exit_code == 1
    assert "pass --yes" in unasked.stderr
    assert shop.json("invoices", "list")[0]["status"] == "draft"
    final = shop.run("invoices", "finalize", draft["id"], "--yes")
    assert final.exit_code == 0, final.output
    number = json.loads(shop.run("invoices", "show", draft["id"]).stdout)["number"]
    assert number
    assert number in final.stdout  # whole, though 80 columns are few
    assert shop.run("invoices", "void", draft["id"], "--yes").exit_code == 2  # --reason
    blank = shop.run("invoices", "void", draft["id"], "--reason", " ", "--yes")
    assert blank.exit_code == 2
    assert "--reason" in blank.output
    voided = shop.run("invoices", "void", draft["id"], "--reason", "sent twice", answer="y\n")
    assert voided.exit_code == 0, voided.output
    assert json.loads(shop.run("invoices", "show", draft["id"]).stdout)["status"] == "void"


def test_report_summary_reads_the_store_as_the_api_does(shop: Shop) -> None:
    body = shop.json("report", "summary", *OCTOBER)
    assert [(r["label"], r["cost"], r["revenue"]) for r in body["rows"]] == [
        ("Acme Corp", "0.123456789", "107.12"),
        ("Globex", "0.15", "114.25"),
    ]
    assert body["currency"] == "USD"
    table = shop.run("report", "summary", *OCTOBER).stdout
    assert "│ Total     │ USD      │ 0.27 │  221.37 │" in table
    csv = shop.run("report", "summary", *OCTOBER, "--csv").stdout
    assert csv.splitlines()[1] == "Acme Corp,USD,0.123456789,107.12,1,0,1"
    split = shop.json("report", "summary", *OCTOBER, "--by-currency")
    assert [r["cost"] for r in split["rows"]] == ["0.123456789", "0.15"]
    assert "rates" not in split
    bad = shop.run("report", "summary", "--group-by", "planet")
    assert bad.exit_code != 0
    assert "--group-by: unknown dimension 'planet'" in bad.output
