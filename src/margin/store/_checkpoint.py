"""SQLite WAL checkpoints on a background thread, off the write path.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that commit
copies the WAL into the database file and fsyncs it, so every few large writes one request
pays for the checkpoints of all the others. Here connections are opened with automatic
checkpoints off, and this thread checkpoints after writes instead. Durability is unchanged:
a commit is durable once its WAL frames are synced (``synchronous=FULL``), whether or not
they have been copied back yet.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import nullcontext

from margin.store._writelock import WriteLock

__all__ = ["Checkpointer"]

log = logging.getLogger("margin.store")

#: A WAL holding more than this is also checkpointed with RESTART, which waits for a gap
#: between writers. A PASSIVE checkpoint racing the next write never lets that writer start
#: the WAL over, so under sustained writing the WAL would otherwise grow without bound.
RESTART_BYTES = 64 * 1024 * 1024
#: An idle thread closes its connection and ends; the next write starts it again.
IDLE_SECONDS = 30.0


class Checkpointer:
    """Checkpoints one SQLite file's WAL after writes, on a thread of its own."""

    def __init__(self, path: str, writers: WriteLock | None = None) -> None:
        self.path = path
        #: Taken for a RESTART checkpoint, which shuts writers out while it runs: they wait
        #: on this lock instead of sleeping in SQLite's busy handler.
        self._writers = writers
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._requested = 0
        self._done = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self.checkpoints = 0
        #: How many of them were RESTARTs (which hold the writers' lock).
        self.restarts = 0
        self._frame: int | None = None

    def written(self) -> None:
        """Called after a write transaction committed: checkpoint soon."""
        with self._lock:
            self._requested += 1
            self._wake.set()
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="margin-sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every write reported so far has been followed by a checkpoint attempt;
        False on timeout."""
        with self._settled:
            return self._settled.wait_for(lambda: self._done >= self._requested, timeout)

    def close(self) -> None:
        """Stop the thread after a last checkpoint (a later write starts it again)."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._wake.set()
        if thread is not None:
            thread.join()
        with self._settled:
            self._thread = None
            self._closed = False
            self._wake.clear()
            # The thread's last checkpoint came after every write reported before close.
            self._done = self._requested
            self._settled.notify_all()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        except sqlite3.Error as exc:  # pragma: no cover - the writers' own open failed too
            log.warning("checkpoint thread could not open %s: %s", self.path, exc)
            with self._settled:
                self._thread = None
                self._done = self._requested
                self._settled.notify_all()
            return
        try:
            self._loop(conn)
        finally:
            conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            self._wake.wait(IDLE_SECONDS)
            with self._lock:
                closing = self._closed
                if not self._wake.is_set() and not closing:
                    # Idle: end; a later write starts a new thread (under the same lock).
                    self._thread = None
                    return
                self._wake.clear()
                target = self._requested
            self._checkpoint(conn)
            with self._settled:
                self._done = max(self._done, target)
                self._settled.notify_all()
            if closing:
                return

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        # PASSIVE first, beside the writers: it copies back what it can without waiting.
        # Only a WAL that has grown past RESTART_BYTES is then started over, by a RESTART that
        # shuts writers out; most of its frames were just copied, so that is brief. (Judged by
        # the frames in use, not the file's size: the file keeps its size after a restart,
        # and checking that would make every later checkpoint a RESTART.)
        try:
            _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames * self._frame_bytes(conn) >= RESTART_BYTES:
                held = self._writers.held() if self._writers else nullcontext()
                with held:
                    conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                self.restarts += 1
            self.checkpoints += 1
        except sqlite3.Error as exc:
            # Busy or locked by another process: the next write wakes us again.
            log.debug("checkpoint of %s skipped: %s", self.path, exc)

    def _frame_bytes(self, conn: sqlite3.Connection) -> int:
        if self._frame is None:
            # A WAL frame is one page and a 24-byte header.
            self._frame = int(conn.execute("PRAGMA page_size").fetchone()[0]) + 24
        return self._frame
