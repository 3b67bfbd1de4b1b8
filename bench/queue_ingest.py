"""Ingest through the queue beside the direct path, in the same run, on PostgreSQL.

Direct: ``margin serve --workers 2`` writing in the request. Queue: ``margin serve --workers 2
--queue nats://…`` (a ``nats-server`` with JetStream started here) and two ``margin worker``
processes. The same load (``--clients`` threads posting batches of ``--batch`` signals)
goes to each; printed: items per second acknowledged at the edge, and items per second
written (from the first request until the last item is in the store).

    .venv/bin/python bench/queue_ingest.py [--clients 4] [--batches 25] [--batch 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy import func, select

from _server import (
    ServedProcesses,
    at_once,
    drop_postgres_database,
    free_port,
    postgres_database,
)
from margin.store.db import Database
from margin.store.keys import create_key, create_org
from margin.store.schema import signals


def _load(url: str, key: str, tag: str, clients: int, batches: int, size: int) -> None:
    """``clients`` clients at once, each posting ``batches`` batches of ``size`` signals."""
    at_once([partial(_post_batches, url, key, f"{tag}-{c}", batches, size) for c in range(clients)])


def _post_batches(url: str, key: str, tag: str, batches: int, size: int) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        for b in range(batches):
            items = [
                {
                    "event_name": "email_sent",
                    "customer": f"customer-{i % 50}",
                    "timestamp": "2026-10-05T12:00:00Z",
                    "idempotency_key": f"{tag}-{b}-{i}",
                }
                for i in range(size)
            ]
            while True:
                r = http.post(
                    "/v1/signals", json={"items": items}, headers={"Authorization": f"Bearer {key}"}
                )
                if r.status_code < 300:
                    break
                time.sleep(0.1)


def _stored(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(signals)).scalar_one())


def run(db: Database, url: str, key: str, args: argparse.Namespace, tmp: Path) -> None:
    total = args.clients * args.batches * args.batch
    env = {"MARGIN_DATABASE_URL": url}
    log = (tmp / "bench.log").open("ab")
    try:
        with ExitStack() as stack:
            server = stack.enter_context(ServedProcesses(env, 2, log))
            start = time.perf_counter()
            _load(server.base_url, key, "direct", args.clients, args.batches, args.batch)
            direct = time.perf_counter() - start
            assert _stored(db) == total

            nats_port = free_port()
            nats = [shutil.which("nats-server") or "/usr/sbin/nats-server", "-a", "127.0.0.1"]
            nats += ["-p", str(nats_port), "-js", "-sd", str(tmp / "nats")]
            procs = [subprocess.Popen(nats, stdout=log, stderr=subprocess.STDOUT)]
            queue = f"nats://127.0.0.1:{nats_port}"
            qenv = {**os.environ, **env, "MARGIN_QUEUE_URL": queue}
            for _ in range(2):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "margin", "worker"],
                        env=qenv,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            for proc in procs:
                stack.callback(proc.wait, 30)
                stack.callback(proc.terminate)
            extra = ("--queue", queue)
            server = stack.enter_context(ServedProcesses(qenv, 2, log, extra))
            start = time.perf_counter()
            _load(server.base_url, key, "queue", args.clients, args.batches, args.batch)
            edge = time.perf_counter() - start
            while _stored(db) < 2 * total:
                time.sleep(0.05)
            written = time.perf_counter() - start
    except RuntimeError:
        log.flush()
        sys.stderr.write((tmp / "bench.log").read_text()[-4000:])
        raise
    print(f"{total} signals, {args.clients} clients, batches of {args.batch}, PostgreSQL")
    print(f"direct (2 API processes)          : {total / direct:9.0f} items/s stored")
    print(f"queue  (2 API + 2 writers), edge  : {total / edge:9.0f} items/s acknowledged")
    print(f"queue  (2 API + 2 writers), stored: {total / written:9.0f} items/s written")
    print(f"edge / direct: {direct / edge:.2f}x   written / direct: {direct / written:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=25)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    name = f"margin_bench_queue_{os.getpid()}"
    url = postgres_database(name)
    if url is None:
        sys.exit("PostgreSQL is needed on 127.0.0.1:5432")
    db = Database(url)
    try:
        db.upgrade()
        with db.write() as conn:
            org_id = create_org(conn, "bench")
            _key, key = create_key(conn, org_id, "admin")
        with tempfile.TemporaryDirectory() as tmp:
            run(db, url, key, args, Path(tmp))
    finally:
        db.dispose()
        drop_postgres_database(name)


if __name__ == "__main__":
    main()
