"""Benchmark: what the reporting currency costs a report. The 30-day margin by customer ×
agent of ``bench/reports.py`` (same generated data: USD costs, a USD plan), timed three ways,
interleaved call by call in one process:

- ``by_currency``: per original currency (no conversion, what reports did before);
- ``USD``: converted to USD, the currency every figure is in (one EXISTS query says so, and
  nothing is re-read);
- ``EUR``: converted to EUR with a rate for every day: the facts are read again per UTC day
  by every dimension (``margin.reports.currency.GRAIN``), each cell converted at its day's
  rate and the converted cells added into the report's rows.

Prints the median of each and the ratios to ``by_currency``.

    .venv/bin/python bench/report_currency.py                 # 1M records, both stores
    .venv/bin/python bench/report_currency.py --records 100000 --stores sqlite
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from margin._time import from_micros
from margin.fx.rates import Rate, set_rates
from margin.reports.currency import Converter
from margin.reports.facts import Filters
from margin.reports.tables import build_table
from margin.store.db import Database
from reports import (  # bench/reports.py, beside this file
    DAYS,
    HOUR,
    PG_DEFAULT,
    START,
    H,
    _database,
    _drop,
    _fill,
    _setup,
)

WAYS = ("by_currency", "USD", "EUR")


def _rates(db: Database, org: str) -> None:
    first = from_micros(START).date() - timedelta(days=3)
    rates = [
        Rate("EUR", "USD", first + timedelta(days=d), Decimal("1.08") + Decimal(d) / 1000)
        for d in range(DAYS + 4)
    ]
    with db.write() as conn:
        set_rates(conn, org, rates)


def _measure(db: Database, org: str, repeat: int) -> dict[str, float]:
    lo, hi = START, START + H * HOUR
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for attempt in range(repeat + 2):
        for way in WAYS:
            with db.read() as conn:
                began = time.perf_counter()
                convert = None if way == "by_currency" else Converter(conn, org, way)
                build_table(conn, org, lo, hi, ["customer", "agent"], Filters(), convert=convert)
                elapsed = time.perf_counter() - began
            if attempt >= 2:  # two warm-up rounds
                times[way].append(elapsed)
    return {way: statistics.median(t) * 1000 for way, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--pg-url", default=os.environ.get("MARGIN_TEST_POSTGRES_URL", PG_DEFAULT))
    args = parser.parse_args()
    print(f"margin by customer × agent, {DAYS} days, {args.records:,} USD cost records")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.stores.split(","):
            db, handle = _database(kind, args.pg_url, Path(tmp))
            try:
                org = _setup(db)
                _fill(db, org, args.records, min(args.records, 100_000))
                _rates(db, org)
                medians = _measure(db, org, args.repeat)
            finally:
                db.dispose()
                _drop(kind, handle)
            base = medians["by_currency"]
            print(
                f"{kind:8} "
                + ", ".join(f"{w} {m:.1f} ms (×{m / base:.2f})" for w, m in medians.items())
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
