"""The migrations build exactly the schema the code declares, on both stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from margin.store.attribution import trace_costs
from margin.store.db import Database, downgrade, upgrade
from margin.store.partitions import PARTITIONED
from margin.store.schema import costs, metadata, signals

#: What PostgreSQL has in place of the fact tables' unique keys (``fact_keys`` holds them,
#: migration 0017): the indexes that find facts by key, not unique.
_POSTGRES_KEYS = {
    "uq_signals_org_id_idempotency_key",
    "uq_events_org_id_idempotency_key",
    "uq_costs_key",
    "uq_costs_otlp",
    "ix_signals_org_id_idempotency_key",
    "ix_costs_otlp",
}


def _compared(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    """On PostgreSQL, the monthly partitions and the key indexes replaced by ``fact_keys``
    are not the declared schema's."""
    if type_ == "table" and name and (name.endswith("_default") or name[-7:-6] == "p"):
        return not (reflected and any(name.startswith(f"{t}_") for t in PARTITIONED))
    return name not in _POSTGRES_KEYS


def test_migrated_store_matches_the_declared_schema(db: Database) -> None:
    with db.engine.connect() as conn:
        options = {} if db.is_sqlite else {"include_object": _compared}
        context = MigrationContext.configure(conn, opts=options)
        diff = compare_metadata(context, metadata)
    assert diff == []


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).parents[2] / "src/margin/store/migrations")
    )
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()
    db.upgrade()
    with db.engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    assert version == _head()


def test_lookups_of_unpriced_and_attributed_costs_use_the_partial_indexes(tmp_path: Path) -> None:
    # Only unpriced and attributed costs are indexed by those columns (migration 0006); the
    # queries that look them up must still be served by an index, not a scan.
    db = Database(f"sqlite:///{tmp_path / 'plan.db'}")
    db.upgrade()
    try:
        with db.engine.connect() as conn:
            for sql, index in (
                (
                    "SELECT id FROM costs WHERE org_id = ? AND signal_id = ?",
                    "ix_costs_attributed",
                ),
                (
                    "SELECT id FROM costs WHERE org_id = ? AND ts >= ? AND ts < ? "
                    "AND priced_by = 'unpriced'",
                    "ix_costs_unpriced",
                ),
            ):
                plan = conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {sql}", ("o", 1, 2)[: sql.count("?")]
                )
                assert index in " ".join(str(row[-1]) for row in plan), sql
    finally:
        db.dispose()


def _cost(
    i: int, org: str = "org_a", *, source: str = "otlp", key: str | None = None
) -> dict[str, Any]:
    trace = f"{i % 300:032x}"
    return {
        "id": f"cst_{i:06d}",
        "org_id": org,
        "trace_id": trace,
        "idempotency_key": key or (f"otlp:{trace}:{i:016x}" if source == "otlp" else f"api-{i}"),
        "source": source,
        "currency": "USD",
        "priced_by": "catalog",
        "amount_nanos": i,
        "ts": 1_000_000 + i,
        "content_hash": "h",
        "created_at": 1,
    }


def test_0008_keeps_every_cost_and_each_key_unique_where_it_was(empty_url: str) -> None:
    # Costs stored before 0008 survive it (SQLite rebuilds the table) and its downgrade.
    db = Database(empty_url)
    try:
        upgrade(db.engine, "0007_cost_price_context")
        before = [_cost(i, source="otlp" if i % 3 else "api") for i in range(600)]
        with db.write() as conn:
            conn.execute(insert(costs), before)
        # Up to 0016: from 0017 on, PostgreSQL keeps the keys in ``fact_keys`` instead.
        upgrade(db.engine, "0016_customer_units")
        with db.read() as conn:
            after = conn.execute(select(costs.c.id, costs.c.amount_nanos)).all()
        assert sorted(after) == sorted((r["id"], r["amount_nanos"]) for r in before)
        # OTLP keys are unique per trace, the others per organization; the two never meet.
        for taken in (
            _cost(10_001, key=before[1]["idempotency_key"]) | {"trace_id": before[1]["trace_id"]},
            _cost(10_002, source="api", key=before[0]["idempotency_key"]),
        ):
            with pytest.raises(IntegrityError), db.write() as conn:
                conn.execute(insert(costs), [taken])
        with db.write() as conn:
            conn.execute(
                insert(costs), [_cost(10_003, source="api", key=before[1]["idempotency_key"])]
            )
        with db.write() as conn:
            conn.execute(delete(costs).where(costs.c.id == "cst_010003"))
        downgrade(db.engine, "0007_cost_price_context")
        db.upgrade()
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(costs)).scalar_one() == 600
            options = {} if db.is_sqlite else {"include_object": _compared}
            context = MigrationContext.configure(conn, opts=options)
            assert compare_metadata(context, metadata) == []
    finally:
        db.dispose()


def test_the_costs_of_traces_are_read_through_indexes(db: Database) -> None:
    # An OTLP cost is in one index only (migration 0008), which finds it by trace; the other
    # costs are in ``ix_costs_traced``. Neither lookup may scan the table.
    rows = [_cost(i, "org_plan", source="api" if i % 10 == 0 else "otlp") for i in range(3000)]
    with db.write() as conn:
        conn.execute(insert(costs), rows)
        conn.exec_driver_sql("ANALYZE")
    traces = [f"{t:032x}" for t in (7, 8)]
    query = trace_costs("org_plan", traces, [costs.c.id], costs.c.source != "signal")
    with db.read() as conn:
        found = {r.id for r in conn.execute(query)}
        compiled = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(explain + compiled))
    assert found == {r["id"] for r in rows if r["trace_id"] in traces}
    assert len(found) == 20
    if db.is_sqlite:
        assert "ix_costs_traced" in plan, plan
        assert "uq_costs_otlp" in plan, plan
        assert "SCAN costs" not in plan, plan
        return
    # The rows (of 1970) are in the default partition, read through its copies of the
    # indexes (``ix_costs_traced``, ``ix_costs_otlp``); only empty partitions are scanned.
    assert "costs_default_org_id_trace_id_idx" in plan, plan
    assert "costs_default_org_id_trace_id_idempotency_key_idx" in plan, plan
    assert "Seq Scan on costs_default" not in plan, plan


def test_0011_totals_the_stored_costs_and_makes_float_rollups_exact_again(
    empty_url: str,
) -> None:
    db = Database(empty_url)
    try:
        upgrade(db.engine, "0008_otlp_cost_keys")
        half = 5 * 10**18  # two in one rollup row passed 64 bits: SQLite made a float of it
        hour = 3_600_000_000
        rows = [
            _cost(i, source="api") | {"amount_nanos": half, "ts": hour, "signal_id": signal}
            for i, signal in ((1, "sig_won"), (2, None))  # the first later moved to its signal
        ]
        rows.append(_cost(3, "org_b", source="api") | {"amount_nanos": 7, "currency": "EUR"})
        rows.append(_cost(4, source="api") | {"amount_nanos": None, "priced_by": "unpriced"})
        for row in rows:
            row.setdefault("signal_id", None)
        with db.write() as conn:
            conn.execute(insert(costs), rows)
            conn.execute(
                insert(signals).values(
                    id="sig_won",
                    org_id="org_a",
                    customer_id="cus_a",
                    event_name="won",
                    ts=hour,
                    data={},
                    idempotency_key="won",
                    content_hash="h",
                    cost_tracing=True,
                    source="api",
                    created_at=1,
                )
            )
            if db.is_sqlite:  # the rows as SQLite left them: '' a float, 'won' exact
                for table, bucket in (("cost_rollups", hour), ("cost_rollups_daily", 0)):
                    for event_name, nanos in (("", "5e18"), ("won", str(half))):
                        conn.exec_driver_sql(
                            f"INSERT INTO {table} VALUES ('org_a', {bucket}, '', '', "
                            f"'{event_name}', '', '', 'USD', {nanos}, 1, 0)"
                        )
        db.upgrade()
        with db.read() as conn:
            totals = conn.exec_driver_sql(
                "SELECT org_id, currency, amount_nanos FROM cost_totals ORDER BY org_id"
            ).all()
            assert [(o, c, int(n)) for o, c, n in totals] == [
                ("org_a", "USD", 2**63 - 1),  # more than sums exactly: held at the most
                ("org_b", "EUR", 7),
            ]
            if db.is_sqlite:
                rolled = conn.exec_driver_sql(
                    "SELECT event_name, typeof(amount_nanos), amount_nanos FROM cost_rollups "
                    "UNION ALL SELECT event_name, typeof(amount_nanos), amount_nanos "
                    "FROM cost_rollups_daily"
                ).all()
                assert (
                    sorted(rolled) == [("", "integer", half)] * 2 + [("won", "integer", half)] * 2
                )
    finally:
        db.dispose()


def test_an_export_reads_each_chunk_through_the_index_in_its_order(db: Database) -> None:
    # An export's later chunks start after the last (time, id) read. Read through an index
    # in that order, a chunk costs its own rows, whatever the statistics say: no ANALYZE
    # here, as on a store just loaded (migration 0020).
    from sqlalchemy import event

    from margin.reports.export import export_chunks

    rows = [_cost(i, "org_export", source="api") for i in range(3000)]
    with db.write() as conn:
        conn.execute(insert(costs), rows)
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if "ORDER BY costs.ts, costs.id" in sql:
            statements.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        chunks = list(export_chunks(db, "org_export", "costs", 0, 2_000_000, chunk_rows=500))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert [len(chunk) for chunk in chunks] == [500] * 6
    assert [row["id"] for chunk in chunks for row in chunk] == [r["id"] for r in rows]
    sql, params = statements[3]  # a chunk in the middle, after a (time, id)
    explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    with db.read() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(explain + sql, params))
    if db.is_sqlite:
        assert "ix_costs_org_id_ts_id" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        return
    assert "costs_default_org_id_ts_id_idx" in plan, plan
    assert "Sort" not in plan, plan
