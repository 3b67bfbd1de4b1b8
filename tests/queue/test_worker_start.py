"""``margin worker`` started before its store can be used waits for it, as a running writer
waits out an outage: before ``margin serve`` (or ``margin db upgrade``) created the store,
on both stores, and while the database does not answer, saying so once per reason; SIGTERM
ends the wait cleanly. A store that cannot work as configured ends the command at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from nats_support import NatsNode, sigterm, wait_for, worker_process

from margin.store.db import Database
from margin_testing import free_port

WAITING = "margin worker: waiting for the store: "


def _worker(nats: NatsNode, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    return worker_process(log, MARGIN_QUEUE_URL=nats.url, MARGIN_DATABASE_URL=database_url)


def test_a_writer_started_before_the_store_exists_waits_and_then_consumes(
    nats: NatsNode, empty_url: str, store_kind: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    proc = _worker(nats, empty_url, log)
    try:
        wait_for(lambda: WAITING in log.read_text(), 60, "the worker to say it waits")
        assert proc.poll() is None  # still there, not ended with an error
        assert "no Margin store" in log.read_text()
        store = Database(empty_url)  # what `margin serve` does on its first start
        store.upgrade()
        store.dispose()
        wait_for(lambda: "margin worker: consuming" in log.read_text(), 60, "it to consume")
        assert sigterm(proc) == 0
    finally:
        sigterm(proc)
    out = log.read_text()
    said = [line for line in out.splitlines() if line.startswith(WAITING)]
    # Each reason once (SQLite may show the file made but not yet migrated, a second one).
    assert 1 <= len(said) == len(set(said)) <= 2, out
    assert "Traceback" not in out
    assert "margin worker: stopped;" in out


def test_a_writer_waits_while_the_database_does_not_answer_and_sigterm_ends_it(
    nats: NatsNode, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    proc = _worker(nats, f"postgresql://postgres@127.0.0.1:{free_port()}/margin", log)
    try:
        wait_for(lambda: WAITING in log.read_text(), 60, "the worker to say it waits")
        assert proc.poll() is None
    finally:
        code = sigterm(proc)
    out = log.read_text()
    assert code == 0, out
    assert f"{WAITING}cannot use the database at" in out
    assert "margin worker: stopped before the store was ready" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://root@127.0.0.1/margin", "Margin keeps its data in SQLite or PostgreSQL"),
        (
            "postgresql+nosuchdriver://u@h/db",
            "MARGIN_DATABASE_URL is not a database URL Margin can use",
        ),
    ],
)
def test_a_store_that_cannot_work_as_configured_ends_the_writer_at_once(
    nats: NatsNode, tmp_path: Path, url: str, said: str
) -> None:
    log = tmp_path / "worker.log"
    proc = _worker(nats, url, log)
    try:
        code = proc.wait(60)
    finally:
        sigterm(proc)
    out = log.read_text()
    assert code == 1, out
    assert f"error: {said}" in out
    assert WAITING not in out
