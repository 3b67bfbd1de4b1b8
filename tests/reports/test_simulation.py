"""The pricing simulator (issue #14): a past period's recorded facts re-rated under a
candidate plan by the same rating function, beside the actual figures, storing nothing.

- Given the plan customers already have, it returns exactly the actual figures, and those
  are the margin report's, over the generated worlds of the reconciliation test.
- A hand-computed case with another plan (an order starting mid-month, so a prorated fee).
- Bad input is refused by field; nothing is stored (row counts unchanged).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from billing.test_reconciliation import MONTHS, PLANS, _build
from billing_support import outcome, setup_plan
from margin._calendar import month_bounds
from margin.fx.rates import Rate, set_rates
from margin.pricing import Pricer
from margin.reports.currency import Converter
from margin.reports.facts import Filters
from margin.reports.simulation import SimulationIn, simulate
from margin.reports.tables import build_table
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.schema import metadata

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from pathlib import Path

    from tests.conftest import Api

NOW = month_bounds("2026-01")[0]


def _simulate(api: Api, body: dict[str, Any], **params: Any) -> Any:
    return api.post("/v1/plans/simulate", json=body, params=params, scope="read")


def _counts(db: Database) -> dict[str, int]:
    with db.read() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in metadata.tables.items()
        }


def _world(api: Api) -> None:
    """acme on sdr-pro from 11 October; globex on it all month."""
    setup_plan(api, starts_at="2026-10-11")
    assert api.post("/v1/customers", json={"external_id": "globex"}).status_code == 201
    order = {"customer": "globex", "plan": "sdr-pro", "starts_at": "2026-10-01"}
    assert api.post("/v1/orders", json=order).status_code == 201
    for day in (12, 15, 20):
        outcome(api, "meeting_booked", f"2026-10-{day}T09:00:00Z", cost="0.5")
    for _ in range(10):
        outcome(api, "email_sent", "2026-10-21T10:00:00Z")
    outcome(api, "meeting_booked", "2026-10-03T09:00:00Z", cost="1", customer="globex")


CANDIDATE = {
    "key": "sdr-pro",
    "agent": "sdr",
    "currency": "USD",
    "outcomes": [{"event_name": "meeting_booked", "price": "40"}],
    "fees": [{"key": "platform", "amount": "100"}],
}


def _figures(cost: str, revenue: str, profit: str, pct: str) -> dict[str, Any]:
    return {
        "cost": cost,
        "revenue": revenue,
        "profit": profit,
        "margin_pct": pct,
    }


def test_a_candidate_plan_gives_the_hand_computed_figures_and_stores_nothing(api: Api) -> None:
    _world(api)
    before = _counts(api.db)
    answer = _simulate(api, {"plan": CANDIDATE, "from": "2026-10", "customers": ["acme"]})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["from"], result["to"], result["replaces"]) == ("2026-10", "2026-10", "sdr-pro")
    assert result["plan"] == {"key": "sdr-pro", "currency": "USD", "stored": False}
    [acme] = result["customers"]
    assert (acme["label"], acme["currency"], acme["orders_replaced"]) == ("acme", "USD", 1)
    # Actual: the fee for 21 of 31 days, 30000 − ⌊30000·10/31⌋ = 20323 cents, + 3 × 25
    # + 10 × 0.10 = 279.23; cost 1.5.
    assert acme["actual"] == _figures("1.5", "279.23", "277.73", "99.46")
    # Candidate: 10000 − ⌊10000·10/31⌋ = 6775 cents, + 3 × 40, emails free = 187.75.
    assert acme["candidate"] == _figures("1.5", "187.75", "186.25", "99.2")
    assert acme["change"] == {"revenue": "-91.48", "profit": "-91.48"}
    [total] = result["totals"]
    assert (total["actual"]["revenue"], total["candidate"]["revenue"]) == ("279.23", "187.75")
    # Every customer: globex pays 300 + 25 actually, 100 + 40 under the candidate.
    everyone = _simulate(api, {"plan": CANDIDATE, "from": "2026-10"}).json()
    rows = {r["label"]: r for r in everyone["customers"]}
    assert rows["globex"]["actual"] == _figures("1", "325", "324", "99.69")
    assert rows["globex"]["candidate"] == _figures("1", "140", "139", "99.29")
    [total] = everyone["totals"]
    assert total["actual"] == _figures("2.5", "604.23", "601.73", "99.59")
    assert total["candidate"] == _figures("2.5", "327.75", "325.25", "99.24")
    assert everyone["orders_replaced"] == 2
    # By key, the plan the customers have: exactly the actual figures.
    same = _simulate(api, {"plan": "sdr-pro", "from": "2026-09", "to": "2026-11"}).json()
    assert [(r["actual"], r["change"]["revenue"]) for r in same["customers"]] == [
        (r["candidate"], "0") for r in same["customers"]
    ]
    assert _counts(api.db) == before


def test_bad_simulations_are_refused_by_field(api: Api) -> None:
    _world(api)
    before = _counts(api.db)
    cases = [
        ({"plan": "nope", "from": "2026-10"}, "plan"),
        ({"plan": {**CANDIDATE, "key": "new"}, "from": "2026-10"}, "replaces"),
        ({"plan": CANDIDATE, "replaces": "gone", "from": "2026-10"}, "replaces"),
        ({"plan": CANDIDATE, "from": "2026-10", "customers": ["acme", "ghost"]}, "customers.1"),
        ({"plan": CANDIDATE, "from": "2026-13"}, "from"),
        ({"plan": CANDIDATE, "from": "2026-10", "to": "2026-09"}, "to"),
        ({"plan": CANDIDATE, "from": "2026-10", "to": "2199-01"}, "to"),
        ({"plan": CANDIDATE, "from": "2020-01", "to": "2026-10"}, "to"),
        ({"plan": {**CANDIDATE, "agent": "ghost"}, "from": "2026-10"}, "plan.agent"),
    ]
    for body, field in cases:
        answer = _simulate(api, body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["field"] == field, (body, answer.json())
    bad_price = {**CANDIDATE, "outcomes": [{"event_name": "x", "price": "abc"}]}
    answer = _simulate(api, {"plan": bad_price, "from": "2026-10"})
    assert answer.status_code == 422, answer.text
    assert "price" in answer.json()["field"], answer.text
    assert _counts(api.db) == before


def _daily_rates(db: Database, org_id: str) -> None:
    """EUR→USD every 5th day of the generated months (each applies to the next 7 days)."""
    day, last = date(2025, 9, 25), date(2026, 1, 1)
    rates = []
    while day <= last:
        rates.append(Rate("EUR", "USD", day, Decimal("1.1") + Decimal(day.day) / 1000))
        day += timedelta(days=5)
    with db.write() as conn:
        set_rates(conn, org_id, rates)


def test_the_plan_customers_have_gives_exactly_the_actual_figures(
    db: Database, tmp_path: Path
) -> None:
    ledger = Ledger(db, Pricer(db), Settings(data_dir=tmp_path))
    world = _build(db, ledger, 2000)
    _daily_rates(db, world.org_id)
    lo, hi = month_bounds(MONTHS[0])[0], month_bounds(MONTHS[-1])[1]
    compared = 0
    with db.read() as conn:
        for convert in (None, Converter(conn, world.org_id, "USD")):
            report = {
                (r["group"][0], r["currency"]): r
                for r in build_table(
                    conn, world.org_id, lo, hi, ["customer"], Filters(), convert=convert
                )
            }
            # Converted, the plans with foreign currencies and usage charges only (time).
            for plan in PLANS if convert is None else PLANS[1:3]:
                spec = SimulationIn.model_validate(
                    {"plan": plan["key"], "from": MONTHS[0], "to": MONTHS[-1]}
                )
                result = simulate(conn, world.org_id, spec, now=NOW, convert=convert)
                assert result["orders_replaced"] > 0, plan["key"]
                for row in result["customers"]:
                    where = (plan["key"], row["label"], row["currency"], convert is None)
                    assert row["candidate"] == row["actual"], where
                    shown = report[(row["customer_id"] or "", row["currency"])]
                    for name in ("cost", "revenue", "profit"):
                        value = shown[name]
                        expected = None if value is None else Decimal(value) / 10**9
                        got = row["actual"][name]
                        assert (None if got is None else Decimal(got)) == expected, (where, name)
                    compared += 1
                for total in result["totals"]:
                    assert total["candidate"] == total["actual"], plan["key"]
    assert compared >= 150  # customer rows compared, both ways (184 with seed 2000)
