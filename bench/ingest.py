"""Signals ingested per second through HTTP batches, beside the raw insert rate.

For each store (SQLite file; PostgreSQL when one answers on 127.0.0.1:5432) it posts
batches of 1,000 signals to a real server on loopback, then inserts the same rows with a
plain driver ``executemany`` into the same table, and prints both rates and their ratio.
Medians of several rounds, the two kinds interleaved; the server's process is readied as
``margin serve`` readies it.

    .venv/bin/python bench/ingest.py [--batches 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from _server import LoopbackServer, drop_postgres_database, postgres_database
from margin._ids import new_id
from margin.server.ledger import content_hash
from margin.store.schema import signals

BATCH = 1000


def batch(round_: int, n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_name": "email_sent",
            "customer": f"customer-{i % 100}",
            "agent": "ai-sdr",
            "timestamp": "2026-10-05T12:00:00Z",
            "data": {"lead": i, "score": 0.5},
            "idempotency_key": f"r{round_}-b{n}-{i}",
        }
        for i in range(BATCH)
    ]


def http_rate(server: LoopbackServer, round_: int, batches: int) -> float:
    bodies = [orjson.dumps({"items": batch(round_, n)}) for n in range(batches)]
    headers = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
        client.post("/v1/signals", content=orjson.dumps({"items": batch(-1 - round_, 0)}))
        start = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/signals", content=body)
            assert response.status_code == 200, response.text
            assert response.json()["ingested"] == BATCH
        return batches * BATCH / (time.perf_counter() - start)


def raw_rate(server: LoopbackServer, round_: int, batches: int) -> float:
    """The same rows straight into the same table with the driver's executemany."""
    columns = [c.name for c in signals.columns]
    placeholder = "?" if server.db.is_sqlite else "%s"
    sql = f"INSERT INTO signals ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))})"
    now = 1_790_000_000_000_000

    def row(item: dict[str, Any]) -> tuple[Any, ...]:
        values = {
            "id": new_id("sig"),
            "org_id": server.org_id,
            "customer_id": "cus_x",
            "agent_id": "agt_x",
            "event_name": item["event_name"],
            "ts": now,
            "data": orjson.dumps(item["data"]).decode(),
            "idempotency_key": "raw-" + item["idempotency_key"],
            "content_hash": content_hash(item),
            "cost_tracing": False,
            "source": "api",
            "created_at": now,
        }
        return tuple(values.get(column) for column in columns)  # the rest NULL

    rows = [[row(item) for item in batch(round_, n)] for n in range(batches)]
    start = time.perf_counter()
    for chunk in rows:
        with server.db.write() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.executemany(sql, chunk)
    return batches * BATCH / (time.perf_counter() - start)


def measure(label: str, url: str, data_dir: Path, batches: int, rounds: int) -> None:
    http, raw = [], []
    with LoopbackServer(url, data_dir) as server:
        for r in range(rounds):  # interleaved, so that a busy spell weighs on both alike
            http.append(http_rate(server, r, batches))
            raw.append(raw_rate(server, r, batches))
    h, r = statistics.median(http), statistics.median(raw)
    print(
        f"{label:<10} HTTP batches of {BATCH}: {h:>9,.0f} signals/s   "
        f"raw executemany: {r:>9,.0f} rows/s   ratio {h / r:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", f"sqlite:///{tmp}/bench.db", Path(tmp), args.batches, args.rounds)
    name = "margin_bench_ingest"
    url = postgres_database(name)
    if url is None:
        print("postgresql: not reachable on 127.0.0.1:5432, skipped")
        return
    try:
        with tempfile.TemporaryDirectory() as tmp:
            measure("postgresql", url, Path(tmp), args.batches, args.rounds)
    finally:
        drop_postgres_database(name)


if __name__ == "__main__":
    main()
