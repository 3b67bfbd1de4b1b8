"""SQLite WAL checkpoints run on a background thread, not inside the commit that fills the WAL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from margin.store import _checkpoint
from margin.store.db import Database
from margin_testing import wait_until


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.write() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"))
    yield db
    db.dispose()


def _write_blobs(db: Database, count: int, size: int = 4096) -> None:
    with db.write() as conn:
        conn.execute(
            text("INSERT INTO blobs (body) VALUES (:body)"),
            [{"body": os.urandom(size)} for _ in range(count)],
        )


def test_commits_do_not_checkpoint_the_thread_does(store: Database) -> None:
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL: durable
    checkpointer = store.checkpointer
    assert checkpointer is not None
    done = checkpointer.checkpoints
    _write_blobs(store, 600)  # ~2.4 MB: past SQLite's automatic threshold of 1,000 pages
    assert checkpointer.wait(20)
    assert checkpointer.checkpoints > done
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 600


@pytest.mark.parametrize("restart_bytes", [_checkpoint.RESTART_BYTES, 0])
def test_the_wal_is_reused_instead_of_growing(
    store: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restart_bytes: int
) -> None:
    # 0: every checkpoint is a RESTART, as when sustained writing grew the WAL past the limit.
    monkeypatch.setattr(_checkpoint, "RESTART_BYTES", restart_bytes)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    for _ in range(20):
        _write_blobs(store, 100)  # ~400 KB a transaction, 8 MB in all
        assert checkpointer.wait(20)
    # Each checkpoint copied everything back, so the next writer started the WAL over.
    assert (tmp_path / "wal.db-wal").stat().st_size < 2 * 100 * 4096
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 2000


def test_once_the_wal_was_started_over_small_writes_do_not_shut_writers_out(
    store: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_checkpoint, "RESTART_BYTES", 1024 * 1024)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    assert checkpointer.wait(20)
    _write_blobs(store, 500)  # ~2 MB in one transaction: past the limit
    assert checkpointer.wait(20)
    assert checkpointer.restarts == 1
    wal = tmp_path / "wal.db-wal"
    grown = wal.stat().st_size
    assert grown > 1024 * 1024
    for _ in range(10):
        _write_blobs(store, 10)  # ~40 KB each: the WAL is started over and stays small
        assert checkpointer.wait(20)
    # The file kept its size (it is reused, not truncated), yet no RESTART was needed.
    assert wal.stat().st_size == grown
    assert checkpointer.restarts == 1
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 600


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "margin-sqlite-checkpoint"]


def test_an_idle_thread_ends_and_the_next_write_starts_another(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_checkpoint, "IDLE_SECONDS", 0.05)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    checkpointer.close()  # stop the thread the fixture's write started, so the new limit applies
    _write_blobs(store, 10)
    wait_until(lambda: checkpointer.checkpoints >= 1 and not _checkpoint_threads())
    done = checkpointer.checkpoints
    _write_blobs(store, 10)
    wait_until(lambda: checkpointer.checkpoints > done)


def test_closing_stops_the_thread_and_the_next_write_starts_it_again(store: Database) -> None:
    _write_blobs(store, 5)
    assert _checkpoint_threads()
    assert store.checkpointer is not None
    store.checkpointer.close()
    assert not _checkpoint_threads()
    _write_blobs(store, 5)
    assert _checkpoint_threads()
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 10
    store.dispose()
    assert not _checkpoint_threads()


def test_in_memory_stores_have_no_checkpoint_thread() -> None:
    db = Database("sqlite:///:memory:")
    try:
        assert db.checkpointer is None
    finally:
        db.dispose()
