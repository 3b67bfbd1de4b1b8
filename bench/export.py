"""Benchmark: exporting a month of costs (``margin.reports.export`` + ``export_formats``, the
code behind ``GET /v1/export`` and ``margin export``) as CSV, JSON Lines and Parquet, on
SQLite and PostgreSQL. Prints rows per second and the peak RSS of the exporting process for
each size: memory must not grow with the number of rows (the export is read in keyset-paged
chunks and encoded chunk by chunk).

Each export runs in a fresh process (so its peak RSS is its own) that writes the file to
/dev/null; the same process with an empty period gives the baseline.

    .venv/bin/python bench/export.py                         # 100k and 400k, both stores
    .venv/bin/python bench/export.py --records 50000 --stores sqlite --formats csv
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import make_url

from margin._time import to_micros
from margin.store.db import Database
from margin.store.keys import create_org
from margin.store.schema import costs, customers

START = to_micros(datetime(2026, 10, 1, tzinfo=UTC))
MONTH_US = 31 * 24 * 3_600_000_000
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _fill(db: Database, records: int) -> str:
    with db.write() as conn:
        org = create_org(conn, "bench")
        conn.execute(
            insert(customers),
            [
                {
                    "id": f"cus_{c}",
                    "org_id": org,
                    "external_id": f"customer-{c}",
                    "currency": "USD",
                    "tracking_mode": "full",
                    "metadata": {},
                    "created_at": START,
                    "updated_at": START,
                }
                for c in range(20)
            ],
        )
    step = MONTH_US // records
    for lo in range(0, records, 20_000):
        rows = [
            {
                "id": f"cst_{i:012d}",
                "org_id": org,
                "customer_id": f"cus_{i % 20}",
                "provider": "openai",
                "model": "gpt-4o",
                "usage": {"input_tokens": 1000 + i % 7, "output_tokens": 200},
                "amount_nanos": 4_500_000 + i % 1000,
                "currency": "USD",
                "priced_by": "catalog",
                "ts": START + i * step,
                "idempotency_key": f"k{i}",
                "content_hash": "0" * 32,
                "source": "api",
                "created_at": START + i * step,
            }
            for i in range(lo, min(records, lo + 20_000))
        ]
        with db.write() as conn:
            conn.execute(insert(costs), rows)
    return org


def _child(url: str, org: str, fmt: str, end: int) -> None:
    from margin.reports.export import COLUMNS, export_chunks
    from margin.reports.export_formats import encode

    db = Database(url)
    rows = size = 0
    began = time.perf_counter()

    def counted() -> object:
        nonlocal rows
        for chunk in export_chunks(db, org, "costs", START, end):
            rows += len(chunk)
            yield chunk

    with open(os.devnull, "wb") as sink:
        for piece in encode(fmt, COLUMNS["costs"], counted()):  # type: ignore[arg-type]
            sink.write(piece)
            size += len(piece)
    seconds = time.perf_counter() - began
    # VmHWM: this process image's own peak (ru_maxrss would include the forking parent's).
    status = Path("/proc/self/status").read_text().splitlines()
    peak_mib = next(int(x.split()[1]) for x in status if x.startswith("VmHWM:")) / 1024
    print(f"{rows} {size} {seconds:.3f} {peak_mib:.1f}")


def _run(url: str, org: str, fmt: str, end: int) -> tuple[int, int, float, float]:
    args = [sys.executable, __file__, "--child", url, org, fmt, str(end)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2]), float(out[3])


def _store(kind: str, tmp: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'export-{uuid.uuid4().hex[:6]}.db'}", None
    import psycopg

    admin = os.environ.get("MARGIN_TEST_POSTGRES_URL", PG_DEFAULT)
    name = f"margin_bench_export_{uuid.uuid4().hex[:8]}"
    dsn = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin).set(database=name).render_as_string(hide_password=False), name


def _drop(name: str) -> None:
    import psycopg

    admin = os.environ.get("MARGIN_TEST_POSTGRES_URL", PG_DEFAULT)
    dsn = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--formats", nargs="+", default=["csv", "jsonl", "parquet"])
    opts = parser.parse_args()
    print("store     records  format   rows/s   MiB out  peak RSS MiB (baseline)")
    with tempfile.TemporaryDirectory() as tmp:
        for store in opts.stores:
            for records in opts.records:
                url, pg_name = _store(store, Path(tmp))
                db = Database(url)
                db.upgrade()
                org = _fill(db, records)
                db.dispose()
                try:
                    for fmt in opts.formats:
                        base = _run(url, org, fmt, START)  # an empty period
                        rows, size, secs, peak = _run(url, org, fmt, START + MONTH_US)
                        assert rows == records, (rows, records)
                        print(
                            f"{store:9} {records:7} {fmt:8} {rows / secs:8.0f} "
                            f"{size / 2**20:8.1f}  {peak:6.1f} ({base[3]:.1f})"
                        )
                finally:
                    if pg_name:
                        _drop(pg_name)


if __name__ == "__main__":
    main()
