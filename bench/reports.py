"""Benchmark: the 30-day margin-by-customer×agent report over 1M and 10M cost records, on
SQLite and PostgreSQL. Prints the median latency of each size and their ratio (targets:
≤ 100 ms, ratio ≤ 1.5) — reports read the hourly rollups, so latency should not grow with
the number of raw records.

Data is generated in bulk with SQL, the way ingest would store it: raw ``costs`` rows,
``cost_rollups`` (hourly) whose cells equal the aggregate of those records (verified when all
raw rows are written), and the daily rollups summed from the hourly ones. The report reads
whole UTC days from the daily rollups and ragged edges from the hourly ones. Record i falls in hour ``i % H`` and dimension combination ``(i // H) % K``
(customer × agent × provider/model), so every size fills the same rollup cells. Writing 10M
raw rows is too slow for this 2-core box, so at most ``--raw-limit`` raw rows are written
(default 1M); the rollups always represent every record. Signal rollups, a plan and one
order per customer make the revenue side of the report real too.

    .venv/bin/python bench/reports.py                      # 1M and 10M, both stores
    .venv/bin/python bench/reports.py --records 100000 1000000 --stores sqlite
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from margin._time import to_micros
from margin.reports.daily import rebuild
from margin.reports.facts import Filters
from margin.reports.tables import build_table
from margin.store.db import Database
from margin.store.keys import create_org

HOUR = 3_600_000_000
DAYS = 30
H = DAYS * 24
CUSTOMERS, AGENTS, MODELS = 20, 3, 4
K = CUSTOMERS * AGENTS * MODELS
START = to_micros(datetime(2026, 10, 1, tzinfo=UTC))
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _setup(db: Database) -> str:
    with db.write() as conn:
        org = create_org(conn, "bench")
        now = START
        for c in range(CUSTOMERS):
            conn.execute(
                text(
                    "INSERT INTO customers (id, org_id, external_id, name, currency, tracking_mode,"
                    " metadata, created_at, updated_at) VALUES (:id, :org, :ext, :name, 'USD',"
                    " 'full', '{}', :now, :now)"
                ),
                {
                    "id": f"cus_b{c}",
                    "org": org,
                    "ext": f"c{c}",
                    "name": f"Customer {c}",
                    "now": now,
                },
            )
        for a in range(AGENTS):
            conn.execute(
                text(
                    "INSERT INTO agents (id, org_id, external_id, name, tracking_mode, metadata,"
                    " created_at, updated_at) VALUES (:id, :org, :ext, :ext, 'full', '{}', :now, :now)"
                ),
                {"id": f"agt_b{a}", "org": org, "ext": f"agent-{a}", "now": now},
            )
        charges = (
            '{"outcomes": [{"event_name": "e0", "price": "2.5", "name": null}], "fees": '
            '[{"key": "seat", "amount": "99", "interval": "monthly", "name": null}], '
            '"usage": [], "minimum": null}'
        )
        conn.execute(
            text(
                "INSERT INTO plans (id, org_id, key, name, agent_id, currency, charges, created_at,"
                " updated_at) VALUES ('plan_b', :org, 'bench', 'Bench', NULL, 'USD', :charges,"
                " :now, :now)"
            ),
            {"org": org, "charges": charges, "now": now},
        )
        for c in range(CUSTOMERS):
            conn.execute(
                text(
                    "INSERT INTO orders (id, org_id, customer_id, plan_id, starts_at, ends_at,"
                    " overrides, created_at) VALUES (:id, :org, :cus, 'plan_b', :start, NULL, '{}',"
                    " :now)"
                ),
                {"id": f"ord_b{c}", "org": org, "cus": f"cus_b{c}", "start": START, "now": now},
            )
    return org


def _seq(db: Database, n: int) -> str:
    if db.is_sqlite:
        return (
            f"WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {n - 1})"
        )
    return f"WITH seq(i) AS (SELECT generate_series(0, {n - 1})::bigint)"


# Dimensions of combination k (the same expressions for raw rows and rollup cells).
_DIMS = (
    "'cus_b' || ({k} % {C}) AS customer_id, 'agt_b' || (({k} / {C}) % {A}) AS agent_id, "
    "CASE WHEN ({k} / {CA}) % 2 = 0 THEN 'openai' ELSE 'anthropic' END AS provider, "
    "'model-' || ({k} / {CA}) AS model, 1000 + ({k} % 7) * 100 AS unit"
)


def _dims(k: str) -> str:
    return _DIMS.format(k=k, C=CUSTOMERS, A=AGENTS, CA=CUSTOMERS * AGENTS)


def _fill(db: Database, org: str, records: int, raw_limit: int) -> tuple[int, float]:
    raw = min(records, raw_limit)
    started = time.perf_counter()
    with db.write() as conn:
        if raw:
            conn.execute(
                text(
                    f"{_seq(db, raw)} INSERT INTO costs (id, org_id, customer_id, agent_id,"
                    " provider, model, amount_nanos, currency, priced_by, ts, idempotency_key,"
                    " content_hash, source, created_at) SELECT 'cst_b' || i, :org, customer_id,"
                    " agent_id, provider, model, unit, 'USD', 'provided',"
                    f" {START} + (i % {H}) * {HOUR} + (i % 3600) * 1000000, 'b' || i, 'h', 'api',"
                    f" {START} FROM (SELECT i, {_dims(f'((i / {H}) % {K})')} FROM seq) AS g"
                ),
                {"org": org},
            )
        # One rollup cell per (hour h, combination k): the records i = h + H·(k + K·m) < N.
        cells = H * K
        conn.execute(
            text(
                f"{_seq(db, cells)} INSERT INTO cost_rollups (org_id, bucket, customer_id,"
                " agent_id, event_name, provider, model, currency, amount_nanos, records,"
                f" unpriced) SELECT :org, {START} + h * {HOUR}, customer_id, agent_id, '',"
                " provider, model, 'USD', n * unit, n, 0 FROM (SELECT h, n, "
                f"{_dims('k')} FROM (SELECT i % {H} AS h, i / {H} AS k,"
                f" ({records} - (i % {H}) - {H} * (i / {H}) + {H * K} - 1) / {H * K} AS n"
                " FROM seq) AS c WHERE n > 0) AS g"
            ),
            {"org": org},
        )
        conn.execute(
            text(
                f"{_seq(db, H * CUSTOMERS * AGENTS)} INSERT INTO signal_rollups (org_id, bucket,"
                f" customer_id, agent_id, event_name, signals) SELECT :org, {START} + (i % {H})"
                f" * {HOUR}, 'cus_b' || ((i / {H}) % {CUSTOMERS}), 'agt_b' || (i / {H * CUSTOMERS}),"
                " 'e0', 2 FROM seq"
            ),
            {"org": org},
        )
        # The daily rollups, as ingest keeps them (one row per UTC day and cell).
        rebuild(conn, org)
    if db.is_sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE cost_rollups")
            conn.exec_driver_sql("VACUUM ANALYZE signal_rollups")
            conn.exec_driver_sql("VACUUM ANALYZE cost_rollups_daily")
            conn.exec_driver_sql("VACUUM ANALYZE signal_rollups_daily")
    with db.read() as conn:
        rolled = conn.execute(text("SELECT sum(records) FROM cost_rollups")).scalar_one()
        daily = conn.execute(text("SELECT sum(records) FROM cost_rollups_daily")).scalar_one()
        stored = conn.execute(text("SELECT count(*) FROM costs")).scalar_one()
    assert int(rolled) == records == int(daily), (rolled, daily, records)
    if raw == records:
        assert int(stored) == records
    return raw, time.perf_counter() - started


def _measure(db: Database, org: str, repeat: int) -> tuple[float, int]:
    lo, hi = START, START + H * HOUR
    times = []
    rows = 0
    for attempt in range(repeat + 2):
        with db.read() as conn:
            began = time.perf_counter()
            table = build_table(conn, org, lo, hi, ["customer", "agent"], Filters())
            elapsed = time.perf_counter() - began
        rows = len(table)
        if attempt >= 2:  # two warm-up runs
            times.append(elapsed)
    return statistics.median(times) * 1000, rows


def _database(kind: str, pg_url: str, workdir: Path) -> tuple[Database, object]:
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:6]}.db"
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        return db, path
    import psycopg

    name = f"margin_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(make_url(pg_url).set(database=name).render_as_string(hide_password=False))
    db.upgrade()
    return db, (dsn, name)


def _drop(kind: str, handle: object) -> None:
    if kind == "sqlite":
        assert isinstance(handle, Path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{handle}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    dsn, name = handle  # type: ignore[misc]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, nargs=2, default=[1_000_000, 10_000_000], metavar=("SMALL", "LARGE")
    )
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--raw-limit", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--pg-url", default=os.environ.get("MARGIN_TEST_POSTGRES_URL", PG_DEFAULT))
    args = parser.parse_args()
    print(
        f"margin by customer × agent, {DAYS} days; {CUSTOMERS} customers × {AGENTS} agents × "
        f"{MODELS} models = {K} combinations × {H} hours"
    )
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.stores.split(","):
            medians = []
            for records in args.records:
                db, handle = _database(kind, args.pg_url, Path(tmp))
                try:
                    org = _setup(db)
                    raw, took = _fill(db, org, records, args.raw_limit)
                    median, rows = _measure(db, org, args.repeat)
                finally:
                    db.dispose()
                    _drop(kind, handle)
                medians.append(median)
                print(
                    f"{kind:8} {records:>11,} records ({raw:,} raw rows, generated in "
                    f"{took:.1f}s): median {median:.1f} ms, {rows} rows"
                )
            ratio = medians[1] / medians[0]
            ok &= medians[1] <= 100 and ratio <= 1.5
            print(
                f"{kind:8} ratio {args.records[1]:,} / {args.records[0]:,}: {ratio:.2f} "
                f"(target ≤ 1.5; latency target ≤ 100 ms)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
