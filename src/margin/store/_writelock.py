"""One SQLite writer at a time, across the threads and processes that share a database file.

SQLite has one writer. A second one that finds the write lock taken gets ``SQLITE_BUSY`` and
its busy handler sleeps and retries, in steps that grow to 100 ms, so under sustained writing
from several processes (``margin serve --workers``) each write waits far longer than the write
before it took. Here writers queue on an advisory lock on a file beside the database instead
(``flock``), which the kernel hands to the next writer the moment it is released. Where
``flock`` does not exist (Windows), writers are serialised within the process only, and
SQLite's busy handler serialises processes as before.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriteLock"]

log = logging.getLogger("margin.store")


class WriteLock:
    """The write lock of one store: a thread lock, then (for a file) the lock file's."""

    def __init__(self, database: str | None) -> None:
        #: The lock file, beside the database (None for an in-memory store).
        self.path = f"{database}.lock" if database and fcntl is not None else None
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block: one writer in the process, then in every process."""
        with self._threads:
            fd = self._file()
            if fd is None:
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._threads:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _file(self) -> int | None:
        if self.path is None:
            return None
        # A descriptor inherited through fork shares its lock with the parent: reopen.
        if self._fd is None or self._pid != os.getpid():
            try:
                # Read-only is enough for flock, so processes of other users can share it.
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                # Writers still work, serialised across processes by SQLite's busy handler.
                log.warning("no writer lock file %s (%s): writers wait on SQLite", self.path, exc)
                self.path = None
                return None
            self._pid = os.getpid()
        return self._fd
