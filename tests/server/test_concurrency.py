"""Concurrent writers through a real server: batches creating the same new customers at once
(PostgreSQL deadlocked on them), and the bound on OTLP exports worked on at once."""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from loopback import serve
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import func, select
from test_otlp import PB, export, gen_ai, new_trace, span

from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.schema import customers, signals
from margin_testing import Tenant

WORKERS, BATCHES, PER_BATCH = 8, 100, 5


@pytest.mark.parametrize("store_kind", ["postgres"])  # SQLite has one writer at a time
def test_concurrent_batches_creating_the_same_new_customers_all_land_once(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    app = create_app(Settings(data_dir=tmp_path), db=db, migrate=False)
    statuses: list[int] = []
    errors: list[str] = []

    def worker(w: int) -> None:
        rng = random.Random(w)
        headers = tenant.headers("ingest")
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for b in range(BATCHES):
                # Batch b of every worker names the same new customers, each in its own order.
                names = [f"new-{b}-{j}" for j in range(PER_BATCH)]
                rng.shuffle(names)
                items = [
                    {
                        "event_name": "won",
                        "customer": name,
                        "timestamp": "2026-10-05T12:00:00Z",
                        "idempotency_key": f"w{w}-b{b}-{name}",
                    }
                    for name in names
                ]
                response = client.post("/v1/signals", json={"items": items})
                statuses.append(response.status_code)
                if response.status_code != 200 or response.json()["ingested"] != PER_BATCH:
                    errors.append(response.text[:300])

    with serve(app) as url:
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
    assert errors == []
    assert statuses == [200] * (WORKERS * BATCHES)
    with db.read() as conn:
        stored = conn.execute(
            select(func.count(), func.count(signals.c.idempotency_key.distinct()))
        )
        assert tuple(stored.one()) == (WORKERS * BATCHES * PER_BATCH,) * 2
        made = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    assert made == BATCHES * PER_BATCH


def _hold_an_export(url: str, headers: dict[str, str], body: bytes) -> socket.socket:
    """Start an export and send all of its body but the last byte: the server holds it (and
    its slot) until the rest arrives."""
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    head = ["POST /v1/traces HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:-1])
    return sock


def _finish(sock: socket.socket, body: bytes) -> bytes:
    sock.sendall(body[-1:])
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    sock.close()
    return answer


def test_exports_beyond_the_bound_are_told_to_retry_and_the_held_ones_complete(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    app = create_app(Settings(data_dir=tmp_path, max_otlp_exports=2), db=db, migrate=False)
    headers = {**tenant.headers("ingest"), **PB}
    bodies = [export(span(new_trace(), gen_ai())).SerializeToString() for _ in range(4)]
    with serve(app) as url, httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        held = [_hold_an_export(url, headers, body) for body in bodies[:2]]
        # Each held export takes its slot once the server has read its headers.
        deadline = time.monotonic() + 30
        while getattr(app.state, "otlp_slots", None) is None or app.state.otlp_slots.held < 2:
            assert time.monotonic() < deadline, "the held exports never started"
            time.sleep(0.01)
        probe = client.post("/v1/traces", content=bodies[2])
        assert probe.status_code == 429
        assert probe.headers["retry-after"] == "1"
        assert probe.headers["content-type"] == "application/x-protobuf"
        slots = app.state.otlp_slots
        assert (slots.held, slots.size) == (2, 2)
        answers = [_finish(sock, body) for sock, body in zip(held, bodies[:2], strict=True)]
        assert all(a.startswith(b"HTTP/1.1 200") for a in answers), answers
        assert client.post("/v1/traces", content=bodies[3]).status_code == 200
        assert slots.held == 0
        stored = client.get(
            "/v1/costs", headers=tenant.headers("read"), params={"limit": 500}
        ).json()["data"]
    sent = [export_trace(body) for body in bodies]
    assert sorted(cost["trace_id"] for cost in stored) == sorted([sent[0], sent[1], sent[3]])


def export_trace(body: bytes) -> str:
    request = ExportTraceServiceRequest.FromString(body)
    trace_id: bytes = request.resource_spans[0].scope_spans[0].spans[0].trace_id
    return trace_id.hex()
