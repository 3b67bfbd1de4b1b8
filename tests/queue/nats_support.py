"""Real ``nats-server`` processes for the queue tests (JetStream on, a store directory of
their own, loopback ports), and a writer run in a thread of the test process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from margin.queue.config import QueueConfig
from margin.queue.edge import Publisher
from margin.queue.writer import Writer
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin_testing import free_port

__all__ = [
    "NatsNode",
    "WriterThread",
    "nats_binary",
    "nats_cluster",
    "nats_server",
    "queue_client",
    "wait_for",
]


def nats_binary() -> str:
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    if found is None:
        pytest.fail("nats-server is required for the queue tests (apt-get install nats-server)")
    return found


def wait_for(check: object, timeout: float, what: str) -> None:
    """Poll ``check()`` until true (every 50 ms), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


@dataclass
class NatsNode:
    name: str
    port: int
    args: list[str]
    store: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """kill -9: no goodbye to the cluster, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def ready(self) -> bool:
        return _listening(self.port)


def _node(name: str, tmp: Path, extra: list[str]) -> NatsNode:
    port = free_port()
    store = tmp / name
    store.mkdir(parents=True, exist_ok=True)
    args = [nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    args += ["-n", name, *extra]
    return NatsNode(name, port, args, store, tmp / f"{name}.log")


@contextmanager
def nats_server(tmp: Path) -> Iterator[NatsNode]:
    """One JetStream server, killed at the end."""
    node = _node("n0", tmp, [])
    node.start()
    try:
        wait_for(node.ready, 10, "nats-server to listen")
        yield node
    finally:
        node.kill()


@contextmanager
def nats_cluster(tmp: Path, size: int = 3) -> Iterator[list[NatsNode]]:
    """A JetStream cluster of ``size`` nodes on loopback ports, all killed at the end."""
    cluster_ports = [free_port() for _ in range(size)]
    routes = ",".join(f"nats-route://127.0.0.1:{p}" for p in cluster_ports)
    nodes = [
        _node(
            f"n{i}",
            tmp,
            ["--cluster_name", "margin", "--cluster", f"nats://127.0.0.1:{cp}", "--routes", routes],
        )
        for i, cp in enumerate(cluster_ports)
    ]
    for node in nodes:
        node.start()
    try:
        for node in nodes:
            wait_for(node.ready, 10, f"{node.name} to listen")
        yield nodes
    finally:
        for node in nodes:
            node.kill()


@dataclass
class WriterThread:
    """A ``Writer`` on its own event loop in a thread of the test process."""

    writer: Writer
    thread: threading.Thread | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop: asyncio.Event | None = None
    error: list[BaseException] = field(default_factory=list)

    def start(self) -> WriterThread:
        started = threading.Event()

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop = asyncio.Event()
            ready = asyncio.Event()
            task = asyncio.create_task(self.writer.run(self.stop, ready))
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            started.set()
            await task

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:  # reported by close()
                self.error.append(exc)
                started.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(20)
        if self.error:
            raise self.error[0]
        return self

    def close(self) -> None:
        if self.loop is not None and self.stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop.set)
        if self.thread is not None:
            self.thread.join(20)
        if self.error:
            raise self.error[0]


def close_stray_streams() -> int:
    """Close the sockets of asyncio streams left open on event loops that no longer run; how
    many there were. Called when no loop of the test runs any more.

    nats-py can lose a connection's stream without closing it when a cluster node dies while
    it reconnects. Once the loop is closed asyncio can only warn about it, from whichever
    later test the garbage collector happens to run in (and, as the warning keeps the object
    alive, again at the end of the session). A test that kills nodes calls this first.
    """
    stray = [
        obj.transport
        for obj in gc.get_objects()
        if isinstance(obj, asyncio.StreamWriter)
        and not obj.transport.is_closing()
        and obj.get_extra_info("socket") is not None
        and getattr(obj.transport, "_loop", None) is not None
        and not obj.transport._loop.is_running()  # type: ignore[attr-defined]
    ]
    for transport in stray:
        with contextlib.suppress(RuntimeError):  # "Event loop is closed", once marked closing
            transport.abort()
        transport._call_connection_lost(None)  # type: ignore[attr-defined]
    gc.collect()
    return len(stray)


def worker_process(log: Path, **env: str) -> subprocess.Popen[bytes]:
    """``margin worker`` in a process of its own, ``env`` over this process's environment,
    its output (both streams) appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "margin", "worker"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def sigterm(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM ``proc`` if it still runs; its exit status once it ended."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def queue_config(url: str, name: str, **kw: object) -> QueueConfig:
    """A queue of streams of its own (tests share one server)."""
    return QueueConfig(
        url=url,
        stream=f"{name.upper()}_INGEST",
        dead_stream=f"{name.upper()}_DEAD",
        consumer=f"{name}-writers",
        subject=f"{name}.ingest",
        dead_subject=f"{name}.dead",
        **kw,  # type: ignore[arg-type]
    )


@contextmanager
def queue_client(db: Database, settings: Settings, config: QueueConfig) -> Iterator[TestClient]:
    """An app in queue mode on ``config`` (its edge publishing to it), as a test client."""
    app = create_app(replace(settings, queue_url=config.url), db=db, migrate=False)
    app.state.margin.queue = Publisher(config)
    with TestClient(app) as client:
        yield client
