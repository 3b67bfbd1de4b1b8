"""Entitlement checks through ``margin serve`` while ingest runs at a steady load, beside a
plain authenticated GET of the same customer in the same run; and the SDK's cached check.

For each store (SQLite file; PostgreSQL when one answers on 127.0.0.1:5432) it starts the
real ``margin serve`` in a subprocess, gives a customer a metered entitlement, starts a
thread that ingests batches of signals of the feature (``--load`` signals per second), then
alternates ``GET /v1/customers/{id}/entitlements/{feature}`` with ``GET /v1/customers/{id}``
from one client, and prints checks per second, p50 and p99 of both, and their p99 ratio
(target ≤ 2). Then the cost of ``margin.check`` answered from the SDK's cache, in µs.

    .venv/bin/python bench/entitlements.py [--requests 2000] [--load 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from _server import drop_postgres_database, free_port, postgres_database
from margin._time import now_micros
from margin.control.entitlements import EntitlementIn, set_entitlement
from margin.control.features import FeatureIn, create_feature
from margin.sdk.entitlements import Checker
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.keys import create_key, create_org


def _start(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str, str]:
    db = Database(url)
    db.upgrade()
    with db.write() as conn:
        org = create_org(conn, "bench")
        _k, key = create_key(conn, org, "admin")
        customer = CUSTOMERS.resolve(conn, org, ["acme"], create=True)["acme"]
        body = FeatureIn(key="meetings", backed_by="signals", event_name="meeting_booked")
        create_feature(conn, org, body, now_micros())
        ent = EntitlementIn(feature="meetings", limit=10**9, period="month")
        set_entitlement(conn, org, customer, ent, now_micros())
    db.dispose()
    port = free_port()
    env = {**os.environ, "MARGIN_DATABASE_URL": url, "MARGIN_DATA_DIR": str(data_dir)}
    margin = Path(sys.executable).with_name("margin")
    proc = subprocess.Popen(
        [str(margin), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base, key, customer
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("margin serve did not start")


def _ingest(base: str, key: str, per_second: int, stop: threading.Event, sent: list[int]) -> None:
    batch = max(1, per_second // 10)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        n = 0
        while not stop.is_set():
            started = time.monotonic()
            items = [
                {"event_name": "meeting_booked", "customer": "acme", "idempotency_key": f"l{n}-{i}"}
                for i in range(batch)
            ]
            assert c.post("/v1/signals", json={"items": items}).status_code == 200
            sent[0] += batch
            n += 1
            stop.wait(max(0.0, 0.1 - (time.monotonic() - started)))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(name: str, url: str, data_dir: Path, requests: int, load: int) -> None:
    proc, base, key, customer = _start(url, data_dir)
    stop, sent = threading.Event(), [0]
    loader = threading.Thread(target=_ingest, args=(base, key, load, stop, sent))
    try:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            check_path = f"/v1/customers/{customer}/entitlements/meetings"
            plain_path = f"/v1/customers/{customer}"
            for _ in range(50):  # warm up both paths
                client.get(check_path)
                client.get(plain_path)
            loader.start()
            checks: list[float] = []
            plain: list[float] = []
            began = time.perf_counter()
            for _ in range(requests):
                for path, into in ((check_path, checks), (plain_path, plain)):
                    t0 = time.perf_counter()
                    assert client.get(path).status_code == 200
                    into.append((time.perf_counter() - t0) * 1000)
            elapsed = time.perf_counter() - began
        stop.set()
        cached = cached_check_us(base, key)
    finally:
        stop.set()
        if loader.is_alive():
            loader.join(30)
        proc.terminate()
        proc.wait(30)
    rate = len(checks) / (sum(checks) / 1000)  # one client, one check at a time
    print(
        f"{name:10} checks/s {rate:8.0f}  check p50 {statistics.median(checks):6.2f} ms "
        f"p99 {_pct(checks, 0.99):6.2f} ms | plain GET p50 {statistics.median(plain):6.2f} ms "
        f"p99 {_pct(plain, 0.99):6.2f} ms | p99 ratio {_pct(checks, 0.99) / _pct(plain, 0.99):4.2f}"
        f" | ingested during the run {sent[0] / elapsed:6.0f} signals/s"
        f" | SDK cached check {cached:.2f} µs"
    )


def cached_check_us(base: str, key: str, n: int = 200_000) -> float:
    """``check`` answered from the SDK's cache: the first call asks the server, the rest
    are cache hits (the ttl outlasts the loop); asserted, so a miss cannot pass for a hit."""
    checker = Checker(key, base, ttl=3600, timeout=5.0)
    assert checker.check("acme", "meetings").source == "server"
    start = time.perf_counter()
    for _ in range(n):
        checker.check("acme", "meetings")
    elapsed = time.perf_counter() - start
    assert checker.check("acme", "meetings").source == "cache"
    checker.close()
    return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--load", type=int, default=500, help="signals ingested per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.db", Path(tmp), args.requests, args.load)
    pg = postgres_database("margin_bench_entitlements")
    if pg is not None:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                run("postgres", pg, Path(tmp), args.requests, args.load)
        finally:
            drop_postgres_database("margin_bench_entitlements")


if __name__ == "__main__":
    main()
