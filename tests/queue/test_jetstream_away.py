"""Queue mode with no JetStream to reach (every server down when a process starts): the
edge answers its health at once with the queue unreachable, and ingest 503 once its publish
deadline has passed, nothing accepted; a writer says why once and SIGTERM ends it at once.
Before, the first connection was tried for ever (nats-py reconnects without end), so
neither request was ever answered, a SIGTERM'd writer never ended, and each attempt, five a
second, logged a traceback. On both stores."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from nats_support import queue_client, queue_config, wait_for, worker_process
from sqlalchemy import func, select

from margin.settings import Settings
from margin.store.db import Database
from margin.store.schema import signals
from margin_testing import Tenant, free_port


def _answered(request: Any) -> Any:
    """``request()``'s answer; fails if it has none within a minute (it used to hang)."""
    answer: list[Any] = []
    thread = threading.Thread(target=lambda: answer.append(request()), daemon=True)
    thread.start()
    thread.join(60)
    assert answer, "no answer within 60 s"
    return answer[0]


def test_the_edge_answers_health_and_ingest_while_no_jetstream_answers(
    db: Database, tenant: Tenant, settings: Settings
) -> None:
    config = queue_config(f"nats://127.0.0.1:{free_port()}", f"away{os.urandom(3).hex()}")
    client: TestClient
    with queue_client(db, settings, config) as client:
        health = _answered(lambda: client.get("/v1/health"))
        assert health.status_code == 200
        assert health.json()["queue"] == {"status": "unreachable", "reason": "TimeoutError"}
        item = {"event_name": "booked", "customer": "c1", "idempotency_key": "k1"}
        answer = _answered(
            lambda: client.post(
                "/v1/signals", json={"items": [item]}, headers=tenant.headers("ingest")
            )
        )
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == "body"
    assert "nothing was accepted" in answer.json()["detail"]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(signals)).scalar_one() == 0


def test_a_writer_says_once_that_no_jetstream_answers_and_sigterm_ends_it(
    db: Database, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    proc = worker_process(
        log,
        MARGIN_QUEUE_URL=f"nats://127.0.0.1:{free_port()}",
        MARGIN_DATABASE_URL=db.engine.url.render_as_string(hide_password=False),
    )
    try:
        said = "margin worker: JetStream not ready (TimeoutError()); retrying"
        wait_for(lambda: said in log.read_text(), 60, "the worker to say why it waits")
        time.sleep(6)  # another attempt's worth (each used to log a traceback, 5 a second)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0  # the attempt in progress is given up
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = log.read_text()
    assert "Traceback" not in out, out
    assert out.count("margin: NATS at ") == 1, out  # each reason once
    assert out.count(said) == 1, out
    assert "margin worker: stopped;" in out
