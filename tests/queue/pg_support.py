"""A PostgreSQL instance of a test's own (``initdb`` / ``pg_ctl`` on a loopback port), to be
stopped and started again under load. As root, the server runs as the ``postgres`` user."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from margin_testing import free_port

__all__ = ["OwnPostgres", "own_postgres"]


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        pytest.fail(f"{name} is required for the PostgreSQL outage test")
    return found


@dataclass
class OwnPostgres:
    data: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        _run([_bin("pg_ctl"), "-D", self.data, "-w", "-t", "60", *args])

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._ctl("-o", options, "-l", os.path.join(self.data, "log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")


def _run(args: list[str]) -> None:
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        args = ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(args, check=True, capture_output=True, timeout=120)


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    base = tempfile.mkdtemp(prefix="margin-pg-")
    data = os.path.join(base, "data")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    try:
        _run([_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
        server = OwnPostgres(data, free_port())
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
                server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
