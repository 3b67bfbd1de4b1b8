"""Cost totals keep every rollup sum an exact 64-bit integer: the flush that would pass the
limit fails (and its transaction with it), and the ledger answers a writer that lost that
race by refusing the item, not the batch."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from margin.pricing import Pricer
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.rollups import MAX_TOTAL_NANOS, CostRollup, TotalExceeded, cost_key
from margin.store.schema import cost_rollups, cost_totals, costs
from margin_testing import Tenant

ORG = "org_totals"


def _flush(db: Database, nanos: int) -> None:
    rollup = CostRollup()
    rollup.add(cost_key(ORG, 0, None, None, None, None, None, "USD"), nanos)
    with db.write() as conn:
        rollup.flush(conn)


def _stored(db: Database) -> tuple[int | None, int | None]:
    with db.read() as conn:
        total = conn.execute(select(cost_totals.c.amount_nanos)).scalar()
        rolled = conn.execute(select(func.sum(cost_rollups.c.amount_nanos))).scalar()
    return total, None if rolled is None else int(rolled)


def test_a_flush_that_would_pass_the_limit_changes_nothing(db: Database) -> None:
    _flush(db, MAX_TOTAL_NANOS - 1)
    _flush(db, 1)
    assert _stored(db) == (MAX_TOTAL_NANOS, MAX_TOTAL_NANOS)
    with pytest.raises(TotalExceeded):
        _flush(db, 1)
    assert _stored(db) == (MAX_TOTAL_NANOS, MAX_TOTAL_NANOS)
    _flush(db, -5)  # a reprice may lower it
    assert _stored(db) == (MAX_TOTAL_NANOS - 5, MAX_TOTAL_NANOS - 5)


@pytest.mark.parametrize("store_kind", ["postgres"])  # SQLite writers never overlap
def test_a_cost_admitted_before_a_concurrent_writer_took_the_total_is_refused_on_retry(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    ledger = Ledger(db, Pricer(db), Settings(data_dir=tmp_path))
    org = tenant.org_id
    billion = {"customer": "acme", "amount": "1000000000", "currency": "USD"}
    first = [{**billion, "idempotency_key": f"k{i}"} for i in range(8)]
    assert ledger.ingest_costs(org, first).ingested == 8
    attempts: list[int] = []

    def meanwhile(conn: Connection) -> None:
        # Another writer commits a ninth billion after this batch counted on the room left.
        attempts.append(1)
        if len(attempts) == 1:
            other = threading.Thread(
                target=ledger.ingest_costs, args=(org, [{**billion, "idempotency_key": "other"}])
            )
            other.start()
            other.join(timeout=30)

    late = [
        {**billion, "idempotency_key": "late"},
        {**billion, "amount": "1", "idempotency_key": "x"},
    ]
    result = ledger.ingest_costs(org, late, before_commit=meanwhile)
    assert len(attempts) == 2  # the first attempt was rolled back, the second refused "late"
    assert [(i.status, i.field) for i in result.items] == [("failed", "amount"), ("ingested", None)]
    with db.read() as conn:
        stored = conn.execute(select(func.count(), func.sum(costs.c.amount_nanos))).one()
    assert (stored[0], int(stored[1])) == (10, 9 * 10**18 + 10**9)
    assert _stored(db)[0] == 9 * 10**18 + 10**9
