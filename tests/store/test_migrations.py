"""The migrations build exactly the schema the code declares, on both stores."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from margin.store.db import Database
from margin.store.schema import metadata


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
    assert version == "0007_cost_price_context"


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
