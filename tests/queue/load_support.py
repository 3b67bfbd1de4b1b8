"""Bounded ingest load for the queue tests: client threads sending batches of signals with
keys of their own, retrying a batch until it is acknowledged, recording what was."""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from margin.store.db import Database
from margin.store.schema import signals
from server import loopback

__all__ = ["Load", "serve", "stored_keys"]


def serve(app: FastAPI) -> AbstractContextManager[str]:
    """Serve ``app`` on 127.0.0.1 in a thread, with its lifespan, until the block ends."""
    return loopback.serve(app, lifespan="on")


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
