"""The migrations build exactly the schema the code declares, on both stores."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert

from margin.store.attribution import trace_costs
from margin.store.db import Database
from margin.store.schema import costs, metadata


def test_migrated_store_matches_the_declared_schema(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()
    db.upgrade()
    with db.engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    assert version == "0008_otlp_costs_by_key"


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


def test_the_costs_of_traces_are_read_through_indexes(db: Database) -> None:
    # OTLP costs have no trace index (migration 0008): they must be found through the range
    # ``otlp:{trace}:`` of the unique key index, the others through ``ix_costs_traced``.
    org = "org_plan"
    rows = [
        {
            "id": f"cst_{i:06d}",
            "org_id": org,
            "trace_id": f"{i % 300:032x}",
            "idempotency_key": f"otlp:{i % 300:032x}:{i:016x}" if i % 10 else f"api-{i}",
            "source": "otlp" if i % 10 else "api",
            "currency": "USD",
            "priced_by": "catalog",
            "ts": 1_000_000 + i,
            "content_hash": "h",
            "created_at": 1,
        }
        for i in range(3000)
    ]
    with db.write() as conn:
        conn.execute(insert(costs), rows)
        conn.exec_driver_sql("ANALYZE")
    traces = [f"{t:032x}" for t in (7, 8)]
    query = trace_costs(org, traces, [costs.c.id], costs.c.source != "signal")
    with db.read() as conn:
        found = {r.id for r in conn.execute(query)}
        compiled = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(explain + compiled))
    assert found == {r["id"] for r in rows if r["trace_id"] in traces}
    assert len(found) == 20
    if db.is_sqlite:
        assert "SCAN" not in plan, plan
        assert "ix_costs_traced" in plan, plan
        assert "sqlite_autoindex_costs" in plan, plan
    else:
        assert "Seq Scan" not in plan, plan
        assert "ix_costs_traced" in plan, plan
        assert "uq_costs_org_id_idempotency_key" in plan, plan
