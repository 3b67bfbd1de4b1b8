"""The demo seeds through the billing services and the ledger, in process: its plan and
orders bill what it promises, seeding twice stores nothing new, and neither the server app
nor the demo pulls in the other or a test client."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from margin.billing import invoices
from margin.billing.orders import load_orders
from margin.demo import PLAN, seed_demo
from margin.pricing import Pricer
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_org

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)


def test_demo_seeds_a_plan_orders_and_facts(db: Database, tmp_path: Path) -> None:
    ledger = Ledger(db, Pricer(db), Settings(data_dir=tmp_path))
    with db.write() as conn:
        org = create_org(conn, "demo")
    first = seed_demo(ledger, org, NOW)
    assert first["costs"] > 0
    assert first["signals"] > 0
    again = seed_demo(ledger, org, NOW)
    assert (again["costs"], again["signals"]) == (0, 0)
    with db.write() as conn:
        orders = load_orders(conn, org)
        umbrella = CUSTOMERS.get_by_external(conn, org, "umbrella")
        drafts = invoices.generate(conn, org, "2026-02")
    assert umbrella is not None
    assert umbrella["tracking_mode"] == "cost_only"
    # One order for each billed customer, from the first of the month 60 days back.
    assert len(orders) == 3
    assert {o["plan_key"] for o in orders} == {PLAN["key"]}
    assert {o["starts_at"] for o in orders} == {
        int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * 10**6
    }
    assert len(drafts) == 3
    for draft in drafts:
        fee = next(line for line in draft["lines"] if line["type"] == "fee")
        assert fee["amount"] == "199"


def test_the_server_app_and_the_demo_stay_apart() -> None:
    code = (
        "import sys, margin.server.app; assert 'margin.demo' not in sys.modules;"
        " import margin.demo; assert 'fastapi.testclient' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
