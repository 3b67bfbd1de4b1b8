"""Signals ingested per second through HTTP batches, beside the raw insert rate.

For each store (SQLite file; PostgreSQL when one answers on 127.0.0.1:5432) it posts
batches of 1,000 signals to a real server on loopback, then inserts the same rows with a
plain driver ``executemany`` into the same table, and prints both rates and their ratio.
Medians of several rounds, the two kinds interleaved. Two lines a store:

- one client: one request at a time to a server in this process, readied as ``margin
  serve`` readies its processes; against one raw writer;
- ``--servers`` clients (threads) at once, each posting to its own ``margin serve`` process
  (as a load balancer spreads them; the processes share the store as ``--workers`` do);
  against as many raw writers (threads, each with its connection) at once. With
  ``--workers`` the kernel would choose the process of each connection, and two clients
  often land on the same one.

    .venv/bin/python bench/ingest.py [--batches 20] [--rounds 3] [--servers 2] [--repeat 5]

``--repeat N`` runs it in N fresh processes and then prints the median of each figure.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson

from _repeat import repeat_if_asked
from _server import (
    LoopbackServer,
    ServedProcesses,
    at_once,
    drop_postgres_database,
    postgres_database,
)
from margin._ids import new_id
from margin.server.ledger import content_hash
from margin.store.schema import signals

BATCH = 1000
#: The figures ``--repeat`` takes the medians of (see ``_repeat``), for each line's label.
_LABEL = r"(\w+, \d+ clients?(?:, \d+ processes)?)"
_FIGURES = {
    "signals/s": r"([0-9,]+) signals/s",
    "raw rows/s": r"raw: +([0-9,]+) rows/s",
    "ratio": r"ratio ([0-9.]+)",
}


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
            _post(client, body)
        return batches * BATCH / (time.perf_counter() - start)


def _post(client: httpx.Client, body: bytes) -> None:
    response = client.post("/v1/signals", content=body)
    assert response.status_code == 200, response.text
    assert response.json()["ingested"] == BATCH


def served_rate(urls: list[str], key: str, rounds: list[int], batches: int) -> float:
    """A client for each of ``urls`` at once, each posting its round's batches."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [[orjson.dumps({"items": batch(r, n)}) for n in range(batches)] for r in rounds]
    clients = [httpx.Client(base_url=url, headers=headers, timeout=60) for url in urls]
    for client, r in zip(clients, rounds, strict=True):  # each connects before the clock starts
        client.post("/v1/signals", content=orjson.dumps({"items": batch(-1 - r, 0)}))

    def post(client: httpx.Client, own: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            for body in own:
                _post(client, body)

        return run

    try:
        return len(rounds) * batches * BATCH / at_once(list(map(post, clients, bodies)))
    finally:
        for client in clients:
            client.close()


def raw_rate(server: LoopbackServer, rounds: list[int], batches: int) -> float:
    """The same rows straight into the same table with the driver's executemany, by as many
    writers at once as ``rounds`` (each its own connection)."""
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

    def insert(chunks: list[list[tuple[Any, ...]]]) -> Callable[[], None]:
        def run() -> None:
            for chunk in chunks:
                with server.db.write() as conn:
                    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    cursor.executemany(sql, chunk)

        return run

    rows = [[[row(item) for item in batch(r, n)] for n in range(batches)] for r in rounds]
    return len(rounds) * batches * BATCH / at_once([insert(chunks) for chunks in rows])


def _line(label: str, http: list[float], raw: list[float]) -> None:
    h, r = statistics.median(http), statistics.median(raw)
    print(f"{label:<38} {h:>9,.0f} signals/s   raw: {r:>9,.0f} rows/s   ratio {h / r:.2f}")


def measure(store: str, url: str, data_dir: Path, args: argparse.Namespace) -> None:
    batches, servers = args.batches, args.servers
    http, raw, served, raw_together = [], [], [], []
    log_path = data_dir / "serve.log"
    with LoopbackServer(url, data_dir) as server, log_path.open("ab") as log, ExitStack() as stack:
        for r in range(args.rounds):  # interleaved, so that a busy spell weighs on both alike
            http.append(http_rate(server, r, batches))
            raw.append(raw_rate(server, [r], batches))
        env = {"MARGIN_DATABASE_URL": url, "MARGIN_DATA_DIR": str(data_dir)}
        try:
            urls = [
                stack.enter_context(ServedProcesses(env, 1, log)).base_url for _ in range(servers)
            ]
        except RuntimeError:
            log.flush()
            print(log_path.read_text()[-4000:])
            raise
        for r in range(args.rounds):
            rounds = [1000 + r * servers + c for c in range(servers)]
            served.append(served_rate(urls, server.key, rounds, batches))
            raw_together.append(raw_rate(server, rounds, batches))
    _line(f"{store}, 1 client", http, raw)
    _line(f"{store}, {servers} clients, {servers} processes", served, raw_together)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", type=int, default=2, help="margin serve processes")
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes, then medians")
    args = parser.parse_args()
    if repeat_if_asked(__file__, args.repeat, _LABEL, _FIGURES):
        return
    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", f"sqlite:///{tmp}/bench.db", Path(tmp), args)
    name = "margin_bench_ingest"
    url = postgres_database(name)
    if url is None:
        print("postgresql: not reachable on 127.0.0.1:5432, skipped")
        return
    try:
        with tempfile.TemporaryDirectory() as tmp:
            measure("postgresql", url, Path(tmp), args)
    finally:
        drop_postgres_database(name)


if __name__ == "__main__":
    main()
