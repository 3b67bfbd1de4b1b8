"""A real Margin server on 127.0.0.1 in a background thread, for benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import uvicorn

from margin.server.app import create_app, prepare_process
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import create_key, create_org

__all__ = [
    "LoopbackServer",
    "ServedProcesses",
    "at_once",
    "free_port",
    "postgres_database",
    "wait_http",
]


def at_once(work: list[Callable[[], None]]) -> float:
    """Seconds from the start of the first to the end of the last of ``work``, each run in
    its own thread, all at once."""
    threads = [threading.Thread(target=fn) for fn in work]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LoopbackServer:
    """Margin on a free port, with one tenant and an admin key."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.db = Database(url)
        self.db.upgrade()
        with self.db.write() as conn:
            self.org_id = create_org(conn, "bench")
            _key, self.key = create_key(conn, self.org_id, "admin")
        app = create_app(Settings(data_dir=data_dir, database_url=url), db=self.db, migrate=False)
        prepare_process()  # as `margin serve` readies each of its processes
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.db.dispose()


def wait_http(url: str, timeout: float = 240) -> None:
    """Wait until ``url``'s ``/healthz`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


class ServedProcesses:
    """``margin serve --workers N`` on a free port, in processes of its own, as a user runs
    it; ``extra`` arguments and ``env`` (``MARGIN_DATABASE_URL``, ...) are passed on."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        log: IO[Any],
        extra: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "margin", "serve", "--port", str(self.port)]
        args += ["--workers", str(workers), *extra]
        self.process = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedProcesses:
        try:
            wait_http(self.base_url)
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()
        self.process.wait(30)


def postgres_database(name: str) -> str | None:
    """Create a scratch PostgreSQL database; None when no server answers."""
    try:
        import psycopg

        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=2
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception:
        return None
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
