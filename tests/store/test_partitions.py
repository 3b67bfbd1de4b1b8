"""Monthly partitions on PostgreSQL (created ahead, a default one for any other time, rows
of the tables before them kept), and idempotency keys unique across months on both stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from margin._calendar import month_bounds
from margin.pricing import Pricer
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database, downgrade, upgrade
from margin.store.partitions import (
    PARTITIONED,
    Month,
    PartitionKeeper,
    ensure_partitions,
    month_partitions,
)
from margin.store.schema import costs, events, fact_keys, signals
from margin_testing import Tenant, make_tenant

MAY_2031 = month_bounds("2031-05")[0] + 14 * 86_400_000_000


def _ledger(db: Database, tmp_path: Path, now: int) -> Ledger:
    return Ledger(db, Pricer(db), Settings(data_dir=tmp_path), clock=lambda: now)


def _signal(key: str, when: str | None, **extra: Any) -> dict[str, Any]:
    item = {"event_name": "email_sent", "customer": "acme", "idempotency_key": key, **extra}
    if when is not None:
        item["timestamp"] = when
    return item


def _count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _homes(db: Database, table: str) -> dict[str, str]:
    """id → the partition holding the row."""
    with db.read() as conn:
        rows = conn.exec_driver_sql(f"SELECT id, tableoid::regclass::text FROM {table}")
        return {str(row_id): str(home) for row_id, home in rows}


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_the_server_creates_the_current_month_and_three_ahead_once(store: Database) -> None:
    with store.write() as conn:
        created = ensure_partitions(conn, MAY_2031)
    months = ["203105", "203106", "203107", "203108"]
    assert created == [f"{t}_p{m}" for t in PARTITIONED for m in months]
    keeper = PartitionKeeper(store, clock=lambda: MAY_2031)
    assert keeper.keep() == []  # the next pass finds them
    with store.read() as conn:
        for table in PARTITIONED:
            have = month_partitions(conn, table)
            assert [m.period for m in have if m.period >= "2031"] == [
                "2031-05",
                "2031-06",
                "2031-07",
                "2031-08",
            ]


def test_the_keeper_creates_nothing_on_sqlite(db: Database) -> None:
    if db.is_sqlite:
        assert PartitionKeeper(db, clock=lambda: MAY_2031).keep() == []


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_the_default_partition_takes_any_time_and_a_new_month_takes_its_rows(
    store: Database, tmp_path: Path
) -> None:
    tenant = make_tenant(store)
    ledger = _ledger(store, tmp_path, MAY_2031)
    items = [
        _signal("far-past", "1975-03-01T00:00:00Z"),
        _signal("later", "2031-05-15T00:00:00Z"),  # no partition of 2031 yet
        _signal("later-2", "2031-05-01T00:00:00Z"),  # its first µs
    ]
    result = ledger.ingest_signals(tenant.org_id, items)
    assert [i.status for i in result.items] == ["ingested"] * 3
    assert set(_homes(store, "signals").values()) == {"signals_default"}
    with store.write() as conn:
        ensure_partitions(conn, MAY_2031, ahead=0)
    homes = _homes(store, "signals")
    assert sorted(homes.values()) == ["signals_default", "signals_p203105", "signals_p203105"]
    again = ledger.ingest_signals(tenant.org_id, items)
    assert [i.status for i in again.items] == ["duplicate"] * 3
    assert [i.id for i in again.items] == [i.id for i in result.items]
    assert _count(store, signals) == 3


def test_a_key_is_the_same_fact_in_any_month(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    january = month_bounds("2026-01")[0] + 86_400_000_000
    march = month_bounds("2026-03")[0] + 86_400_000_000
    if not db.is_sqlite:
        with db.write() as conn:
            ensure_partitions(conn, january, ahead=2)
    org = tenant.org_id
    first = _ledger(db, tmp_path, january)
    later = _ledger(db, tmp_path, march)
    # Sent without a time: a retry two months later is the same item, a duplicate.
    stored = first.ingest_signals(org, [_signal("s-1", None)]).items[0]
    retried = later.ingest_signals(org, [_signal("s-1", None)]).items[0]
    assert (stored.status, retried.status, retried.id) == ("ingested", "duplicate", stored.id)
    # The same key on another month's item: a conflict, nothing stored.
    moved = later.ingest_signals(org, [_signal("s-1", "2026-03-01T00:00:00Z")]).items[0]
    assert (moved.status, moved.field) == ("conflict", "idempotency_key")
    event = {"type": "seat", "customer": "acme", "idempotency_key": "e-1"}
    assert first.ingest_events(org, [event]).items[0].status == "ingested"
    assert later.ingest_events(org, [event]).items[0].status == "duplicate"
    moved_event = {**event, "timestamp": "2026-03-01T00:00:00Z"}
    assert later.ingest_events(org, [moved_event]).items[0].status == "conflict"
    cost = {"customer": "acme", "amount": "1.25", "currency": "USD", "idempotency_key": "c-1"}
    assert first.ingest_costs(org, [cost]).items[0].status == "ingested"
    assert later.ingest_costs(org, [cost]).items[0].status == "duplicate"
    moved_cost = {**cost, "timestamp": "2026-03-01T00:00:00Z"}
    assert later.ingest_costs(org, [moved_cost]).items[0].status == "conflict"
    assert (_count(db, signals), _count(db, events), _count(db, costs)) == (1, 1, 1)
    with db.read() as conn:
        total = conn.execute(select(func.sum(costs.c.amount_nanos))).scalar_one()
    assert total == 1_250_000_000
    assert _count(db, fact_keys) == (0 if db.is_sqlite else 3)


def _old_rows(org: str) -> dict[Any, list[dict[str, Any]]]:
    months = ["2025-11", "2025-12", "2026-01"]
    starts = [month_bounds(m)[0] + 3_600_000_000 for m in months]
    common = {"org_id": org, "content_hash": "h", "created_at": 1}
    return {
        signals: [
            {
                **common,
                "id": f"sig_{i}",
                "customer_id": "cus_1",
                "event_name": "email_sent",
                "ts": ts,
                "data": {},
                "idempotency_key": f"s-{i}",
                "cost_tracing": False,
                "source": "api",
            }
            for i, ts in enumerate(starts)
        ],
        events: [
            {**common, "id": f"evt_{i}", "type": "seat", "ts": ts, "data": {}}
            | {"idempotency_key": f"e-{i}"}
            for i, ts in enumerate(starts)
        ],
        costs: [
            {**common, "id": f"cst_{i}", "ts": ts, "currency": "USD", "priced_by": "provided"}
            | {"amount_nanos": 1000 + i, "idempotency_key": f"c-{i}", "source": "api"}
            for i, ts in enumerate(starts)
        ]
        + [
            {**common, "id": "cst_otlp", "ts": starts[0], "currency": "USD"}
            | {"priced_by": "provided", "amount_nanos": 7, "source": "otlp"}
            | {"trace_id": "ab" * 16, "idempotency_key": f"otlp:{'ab' * 16}:{'cd' * 8}"}
        ],
    }


def test_migration_keeps_every_row_and_its_key(empty_url: str, tmp_path: Path) -> None:
    db = Database(empty_url)
    try:
        upgrade(db.engine, "0016_customer_units")
        tenant = make_tenant(db)
        rows = _old_rows(tenant.org_id)
        with db.write() as conn:
            for table, values in rows.items():
                conn.execute(insert(table), values)
        db.upgrade()
        for table, values in rows.items():
            with db.read() as conn:
                kept = conn.execute(select(table.c.id, table.c.ts, table.c.idempotency_key))
                assert sorted(kept) == sorted(
                    (r["id"], r["ts"], r["idempotency_key"]) for r in values
                )
            if not db.is_sqlite:
                homes = _homes(db, table.name)
                assert sorted(set(homes.values())) == [
                    f"{table.name}_p202511",
                    f"{table.name}_p202512",
                    f"{table.name}_p202601",
                ]
        assert _count(db, fact_keys) == (0 if db.is_sqlite else 10)
        # A retry of a migrated fact is told apart from it as before: its key is taken.
        ledger = _ledger(db, tmp_path, month_bounds("2026-02")[0])
        retry = {"customer": "acme", "amount": "1", "currency": "USD", "idempotency_key": "c-0"}
        result = ledger.ingest_costs(tenant.org_id, [retry]).items[0]
        assert (result.status, result.id) == ("conflict", "cst_0")
        downgrade(db.engine, "0016_customer_units")
        for table, values in rows.items():
            assert _count(db, table) == len(values)
    finally:
        db.dispose()


def test_month_names_its_partition() -> None:
    month = Month("2026-12")
    assert month.partition("costs") == "costs_p202612"
    assert month.next() == Month("2027-01")
    assert Month.of(month_bounds("2027-01")[0] - 1) == month
