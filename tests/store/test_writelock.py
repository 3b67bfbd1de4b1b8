"""SQLite writers queue on a lock file shared by threads and processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from margin.store import _checkpoint
from margin.store.db import Database

fcntl = pytest.importorskip("fcntl", reason="the lock file needs flock (POSIX)")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'lock.db'}")
    with db.write() as conn:
        conn.execute(text("CREATE TABLE marks (id INTEGER PRIMARY KEY, who TEXT NOT NULL)"))
    yield db
    db.dispose()


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_write_holds_the_lock_file_against_other_processes(
    store: Database, tmp_path: Path
) -> None:
    probe = f"""
        import fcntl, os
        fd = os.open({str(tmp_path / "lock.db.lock")!r}, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("taken")
        else:
            print("free")
    """
    with store.write() as conn:
        conn.execute(text("INSERT INTO marks (who) VALUES ('test')"))
        during = _python(probe)
    after = _python(probe)
    assert (during.stdout.strip(), during.stderr) == ("taken", "")
    assert (after.stdout.strip(), after.stderr) == ("free", "")


def test_writers_in_two_processes_all_land(store: Database, tmp_path: Path) -> None:
    writer = f"""
        import sys
        from sqlalchemy import text
        from margin.store.db import Database
        db = Database("sqlite:///{tmp_path / "lock.db"}")
        for _ in range(200):
            with db.write() as conn:
                conn.execute(text("INSERT INTO marks (who) VALUES (:who)"), {{"who": sys.argv[1]}})
        db.dispose()
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(writer), who], stderr=subprocess.PIPE, text=True
        )
        for who in ("a", "b")
    ]
    for _ in range(200):  # and this process, at the same time
        with store.write() as conn:
            conn.execute(text("INSERT INTO marks (who) VALUES ('c')"))
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with store.read() as conn:
        counts = dict(conn.execute(text("SELECT who, count(*) FROM marks GROUP BY who")).all())
    assert counts == {"a": 200, "b": 200, "c": 200}


def test_a_restart_checkpoint_waits_for_the_writer_holding_the_lock(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_checkpoint, "RESTART_BYTES", 0)  # every checkpoint is a RESTART
    checkpointer = store.checkpointer
    assert checkpointer is not None
    assert checkpointer.wait(20)
    done = checkpointer.checkpoints
    entered, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with store.write() as conn:
            conn.execute(text("INSERT INTO marks (who) VALUES ('long')"))
            entered.set()
            release.wait(20)

    writer = threading.Thread(target=long_write)
    writer.start()
    assert entered.wait(20)
    checkpointer.written()  # asks for a checkpoint while the write is under way
    assert not checkpointer.wait(0.3)
    assert checkpointer.checkpoints == done
    release.set()
    writer.join()
    assert checkpointer.wait(20)
    assert checkpointer.checkpoints > done


def test_a_lock_file_that_cannot_be_opened_leaves_writes_working(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "odd.db.lock").mkdir()  # the lock file's name is taken by a directory
    db = Database(f"sqlite:///{tmp_path / 'odd.db'}")
    try:
        for _ in range(2):
            with db.write() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS marks (who TEXT)"))
                conn.execute(text("INSERT INTO marks VALUES ('x')"))
        with db.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM marks")).scalar_one() == 2
    finally:
        db.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "margin.store"]
    assert len(warnings) == 1
    assert "odd.db.lock" in warnings[0]
