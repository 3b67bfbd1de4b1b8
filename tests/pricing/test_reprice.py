"""Re-pricing stored costs keeps the hourly cost rollups consistent (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from margin._time import to_micros
from margin.pricing import Pricer, Repriced, create_override, reprice
from margin.pricing.reprice import CustomerChange, by_customer, priced_count
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_org
from margin.store.schema import cost_rollups, costs, signals

HOUR = 3_600_000_000
T0 = to_micros(datetime(2026, 11, 1, tzinfo=UTC))
TS = T0 + 10 * HOUR + 123  # inside the 10:00 bucket
BUCKET = T0 + 10 * HOUR
USAGE = {"input_tokens": 1_000_000, "output_tokens": 100_000}


def _cost(org: str, cid: str, **values: Any) -> dict[str, Any]:
    row = {
        "id": cid,
        "org_id": org,
        "customer_id": "cus_1",
        "agent_id": None,
        "signal_id": "sig_1",
        "provider": "openai",
        "model": "gpt-4o",
        "usage": USAGE,
        "amount_nanos": None,
        "currency": "USD",
        "priced_by": "unpriced",
        "price_ref": None,
        "unpriced_reason": None,
        "ts": TS,
        "idempotency_key": cid,
        "content_hash": "h",
        "source": "api",
        "created_at": TS,
    }
    return row | values


@pytest.fixture
def org(db: Database) -> str:
    with db.write() as conn:
        org_id = create_org(conn, "acme")
        conn.execute(
            insert(signals).values(
                id="sig_1",
                org_id=org_id,
                customer_id="cus_1",
                agent_id=None,
                event_name="meeting_booked",
                ts=TS,
                data={},
                idempotency_key="s1",
                content_hash="h",
                trace_id=None,
                cost_tracing=True,
                source="api",
                created_at=TS,
            )
        )
        conn.execute(
            insert(costs),
            [
                _cost(org_id, "cst_unknown", model="acme-llm", unpriced_reason="unknown model"),
                # gpt-4o from the catalog: 1M × 2.5 + 0.1M × 10 = 3.5 USD
                _cost(
                    org_id,
                    "cst_catalog",
                    priced_by="catalog",
                    amount_nanos=3_500_000_000,
                    price_ref="c",
                ),
                _cost(org_id, "cst_provided", priced_by="provided", amount_nanos=7_000_000_000),
            ],
        )
        rollup = {
            "org_id": org_id,
            "bucket": BUCKET,
            "customer_id": "cus_1",
            "agent_id": "",
            "event_name": "meeting_booked",
            "provider": "openai",
            "currency": "USD",
        }
        conn.execute(
            insert(cost_rollups),
            [
                rollup | {"model": "acme-llm", "amount_nanos": 0, "records": 1, "unpriced": 1},
                rollup
                | {"model": "gpt-4o", "amount_nanos": 10_500_000_000, "records": 2, "unpriced": 0},
            ],
        )
    return org_id


def _rollups(db: Database, org: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    query = select(cost_rollups).where(
        cost_rollups.c.org_id == org, cost_rollups.c.bucket == BUCKET
    )
    with db.read() as conn:
        return {
            (r.model, r.currency): (r.amount_nanos, r.records, r.unpriced)
            for r in conn.execute(query)
        }


def _amount(db: Database, cid: str) -> tuple[int | None, str, str, str | None]:
    with db.read() as conn:
        row = conn.execute(select(costs).where(costs.c.id == cid)).one()
    return row.amount_nanos, row.currency, row.priced_by, row.price_ref


def test_reprice_unpriced_after_an_override(db: Database, org: str) -> None:
    pricer = Pricer(db)
    assert reprice(db, pricer, org, T0, T0 + 24 * HOUR) == []  # still unknown: nothing changes

    override = create_override(
        db,
        org,
        provider="openai",
        model="acme-*",
        prices={"input": "1", "output": "2"},
        effective_from=T0,
    )
    pricer.invalidate(org)
    # 1M × 1 + 0.1M × 2 = 1.2 USD
    changed = reprice(db, pricer, org, T0, T0 + 24 * HOUR)
    assert changed == [Repriced("cst_unknown", None, Decimal("1.2"), None, "USD", "USD")]
    assert _amount(db, "cst_unknown") == (1_200_000_000, "USD", "override", override.id)
    assert _rollups(db, org) == {
        ("acme-llm", "USD"): (1_200_000_000, 1, 0),
        ("gpt-4o", "USD"): (10_500_000_000, 2, 0),
    }
    # Idempotent: a second run finds nothing to change.
    assert reprice(db, pricer, org, T0, T0 + 24 * HOUR, only_unpriced=False) == []


def test_reprice_priced_rows_moves_currency_and_never_touches_provided(
    db: Database, org: str
) -> None:
    create_override(
        db,
        org,
        provider="openai",
        model="gpt-4o",
        prices={"input": "2", "output": "5"},
        currency="EUR",
        effective_from=T0,
    )
    pricer = Pricer(db)
    # Outside the window: nothing.
    assert reprice(db, pricer, org, T0 + 11 * HOUR, T0 + 12 * HOUR, only_unpriced=False) == []
    # 1M × 2 + 0.1M × 5 = 2.5 EUR
    changed = reprice(db, pricer, org, T0, T0 + 24 * HOUR, model="gpt-4o", only_unpriced=False)
    assert changed == [Repriced("cst_catalog", Decimal("3.5"), Decimal("2.5"), None, "USD", "EUR")]
    assert _amount(db, "cst_provided") == (7_000_000_000, "USD", "provided", None)
    assert _rollups(db, org) == {
        ("acme-llm", "USD"): (0, 1, 1),
        ("gpt-4o", "USD"): (7_000_000_000, 1, 0),
        ("gpt-4o", "EUR"): (2_500_000_000, 1, 0),
    }


def test_reprice_dry_run_writes_nothing_and_sums_per_customer(db: Database, org: str) -> None:
    with db.write() as conn:
        acme = CUSTOMERS.upsert(conn, org, {"external_id": "acme"})[0]["id"]
        conn.execute(update(costs).where(costs.c.id == "cst_catalog").values(customer_id=acme))
    create_override(
        db,
        org,
        provider="openai",
        model="gpt-4o",
        prices={"input": "2", "output": "5"},
        currency="EUR",
        effective_from=T0,
    )
    day = (T0, T0 + 24 * HOUR)
    with db.read() as conn:
        # The catalog-priced cost only: provided costs are never re-priced.
        assert priced_count(conn, org, *day) == 1
        assert priced_count(conn, org, *day, model="acme-llm") == 0
    before = _rollups(db, org)
    preview = reprice(db, Pricer(db), org, *day, only_unpriced=False, dry_run=True)
    assert _rollups(db, org) == before
    assert _amount(db, "cst_catalog") == (3_500_000_000, "USD", "catalog", "c")
    assert preview == [
        Repriced("cst_catalog", Decimal("3.5"), Decimal("2.5"), "acme", "USD", "EUR")
    ]
    # Money leaves USD and arrives in EUR: no sum mixes currencies.
    assert by_customer(preview) == [
        CustomerChange("acme", "EUR", 1, Decimal(0), Decimal("2.5")),
        CustomerChange("acme", "USD", 0, Decimal("3.5"), Decimal(0)),
    ]
    assert by_customer(preview)[1].change == Decimal("-3.5")
    seen: list[tuple[int, int]] = []
    applied = reprice(
        db, Pricer(db), org, *day, only_unpriced=False, progress=lambda *p: seen.append(p)
    )
    assert applied == preview
    assert seen == [(2, 2)]
    assert _amount(db, "cst_catalog")[:2] == (2_500_000_000, "EUR")
