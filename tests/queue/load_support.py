"""Bounded ingest load for the queue tests: client threads sending batches of signals with
keys of their own, retrying a batch until it is acknowledged, recording what was."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from margin.store.db import Database
from margin.store.schema import signals
from margin_testing import free_port

__all__ = ["Load", "serve", "stored_keys"]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@dataclass
class Load:
    """``clients`` threads, each sending ``batches`` batches of ``size`` signals."""

    url: str
    key: str
    clients: int = 4
    batches: int = 30
    size: int = 5
    pause: float = 0.0
    acked: set[str] = field(default_factory=set)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for c in range(self.clients):
            thread = threading.Thread(target=self._client, args=(c,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def join(self, timeout: float = 120) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def _client(self, c: int) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            for b in range(self.batches):
                keys = [f"c{c}-b{b}-i{i}" for i in range(self.size)]
                items = [
                    {"event_name": "done", "customer": f"cust{c}", "idempotency_key": k}
                    for k in keys
                ]
                while True:  # as an SDK does: the same keys until acknowledged
                    try:
                        status = client.post("/v1/signals", json={"items": items}).status_code
                    except httpx.HTTPError:
                        status = 0
                    with self.lock:
                        self.answers.append(status)
                        if 200 <= status < 300:
                            self.acked.update(keys)
                            break
                    time.sleep(0.1)
                if self.pause:
                    time.sleep(self.pause)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def stored_keys(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(select(signals.c.idempotency_key)).scalars())
