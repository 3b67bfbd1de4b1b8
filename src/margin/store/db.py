"""The database: engine setup for SQLite and PostgreSQL, migrations, write serialisation."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from margin._payload import stored_json
from margin.store._checkpoint import Checkpointer
from margin.store._writelock import WriteLock

__all__ = ["Database", "StoreClosed", "downgrade", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")
#: PostgreSQL's serialization failure and deadlock: the transaction lost a race and may be
#: run again as it was.
_RETRYABLE = frozenset({"40001", "40P01"})
#: How many times a write that lost such a race is run in all.
WRITE_ATTEMPTS = 5


def _json_dumps(value: Any) -> str:
    return stored_json(value).decode()


class Database:
    """One store. SQLite is opened in WAL mode with full fsync (acknowledged = durable) and
    writers queue on a lock shared by threads and processes (SQLite has one writer);
    PostgreSQL uses a pool."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        #: Checkpoints a SQLite file's WAL off the write path (none for other stores).
        self.checkpointer: Checkpointer | None = None
        self._write_lock: WriteLock | None = None
        if self.is_sqlite:
            database = parsed.database
            if database == ":memory:" or (database or "").startswith("file:"):
                database = None
            self._write_lock = WriteLock(database)
            if database:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                self.checkpointer = Checkpointer(database, self._write_lock)
            self.engine: Engine = create_engine(
                url,
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
                connect_args={"check_same_thread": False, "timeout": 60},
                pool_size=pool_size,
            )
            manual = self.checkpointer is not None
            event.listen(self.engine, "connect", partial(_sqlite_pragmas, manual=manual))
            # Writes take SQLite's write lock up front (BEGIN IMMEDIATE) so that a transaction
            # never fails half-way on "database is locked" when several processes share a file.
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(
                url,
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without error."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock.held(), self.engine.connect() as conn:
            conn = conn.execution_options(margin_immediate=True)
            with conn.begin():
                yield conn
        if self.checkpointer is not None:
            self.checkpointer.written()

    def transact(self, work: Callable[[Connection], T], attempts: int = WRITE_ATTEMPTS) -> T:
        """Run ``work`` in a write transaction and commit; run it again (up to ``attempts``
        times in all, after a short random pause) when PostgreSQL ends it as the loser of a
        deadlock or a serialization conflict. ``work`` must start from scratch each time:
        nothing of a rolled-back attempt remains."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as conn:
                    return work(conn)
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None)
                if code not in _RETRYABLE or attempt == attempts:
                    raise
            time.sleep(random.uniform(0.005, 0.02) * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (a transaction that is rolled back)."""
        with self.engine.connect() as conn:
            yield conn

    def upgrade(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Bring the schema to the newest migration (``progress(done, total)`` after each)."""
        upgrade(self.engine, progress=progress)

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        if self._write_lock is not None:
            self._write_lock.close()
        self.engine.dispose()
        # A disposed store refuses further use: the engine would otherwise open a new pool
        # silently, and its connections would outlive the caller that believed it closed them.
        if not event.contains(self.engine, "checkout", _refuse_disposed):
            event.listen(self.engine, "checkout", _refuse_disposed)


class StoreClosed(RuntimeError):
    """A :class:`Database` was used after ``dispose()``."""


def _refuse_disposed(_dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    raise StoreClosed("this store was disposed; open a new Database to use it again")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, manual: bool) -> None:
    # Autocommit at the driver level; transactions are begun explicitly in _sqlite_begin.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # 64 MiB of page cache (the default is 2 MiB): the indexes keyed by trace and idempotency
    # key take rows in random order, and a small cache re-reads their pages on every insert.
    cursor.execute("PRAGMA cache_size=-65536")
    if manual:
        # The Checkpointer thread checkpoints instead of the commit that fills the WAL.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("margin_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def upgrade(
    engine: Engine, revision: str = "head", progress: Callable[[int, int], None] | None = None
) -> None:
    """Run the Alembic migrations on ``engine`` up to ``revision``; ``progress(done, total)``
    is called after each one applied."""
    _migrate(engine, "upgrade", revision, progress)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo the Alembic migrations on ``engine`` down to ``revision``."""
    _migrate(engine, "downgrade", revision)


def _migrate(
    engine: Engine,
    direction: str,
    revision: str,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        if progress is not None:
            config.attributes["on_version_apply"] = _counter(config, conn, revision, progress)
        getattr(command, direction)(config, revision)


def _counter(
    config: Any, conn: Connection, revision: str, progress: Callable[[int, int], None]
) -> Callable[..., None]:
    """An Alembic ``on_version_apply`` hook reporting (applied, pending)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    current = MigrationContext.configure(conn).get_current_heads()
    script = ScriptDirectory.from_config(config)
    pending = len(list(script.iterate_revisions(revision, current[0] if current else "base")))
    done = 0

    def applied(**_: Any) -> None:
        nonlocal done
        done += 1
        progress(done, pending)

    return applied
