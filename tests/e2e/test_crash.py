"""Acknowledged means durable: a server killed with SIGKILL mid-load loses no item it
acknowledged. Runs the real ``margin serve`` in a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from margin.store.db import Database
from margin.store.keys import create_key, create_org
from margin.store.schema import signals
from margin_testing import free_port, wait_healthy

pytestmark = pytest.mark.slow


def test_sigkill_during_a_batch_load_loses_no_acknowledged_item(
    db: Database, tmp_path: Path
) -> None:
    with db.write() as conn:
        org_id = create_org(conn, "crash")
        _key, secret = create_key(conn, org_id, "ingest")
    port = free_port()
    env = {**os.environ, "MARGIN_DATABASE_URL": db.url, "MARGIN_DATA_DIR": str(tmp_path)}
    margin = Path(sys.executable).with_name("margin")
    proc = subprocess.Popen(
        [str(margin), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    acknowledged: set[str] = set()
    sent: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            n = 0
            while not stop.is_set():
                keys = [f"w{worker}-b{n}-{i}" for i in range(200)]
                items = [
                    {"event_name": "email_sent", "customer": "acme", "idempotency_key": k}
                    for k in keys
                ]
                with lock:
                    sent.update(keys)
                try:
                    response = client.post("/v1/signals", json={"items": items})
                except httpx.HTTPError:
                    return
                if response.status_code == 200 and response.json()["ingested"] == len(keys):
                    with lock:
                        acknowledged.update(keys)
                n += 1

    try:
        wait_healthy(url, proc)
        workers = [threading.Thread(target=load, args=(w,)) for w in range(3)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < 3000:
            assert time.monotonic() < deadline, f"only {len(acknowledged)} acknowledged"
            assert all(w.is_alive() for w in workers), "a load worker stopped early"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for w in workers:
            w.join(15)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    with db.read() as conn:
        stored = set(
            conn.execute(
                select(signals.c.idempotency_key).where(signals.c.org_id == org_id)
            ).scalars()
        )
    assert len(acknowledged) >= 3000
    assert acknowledged <= stored
    assert stored <= sent
    assert len(stored) == len(set(stored))
