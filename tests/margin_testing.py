"""Test support shared by every test directory: tenants with keys and an API client.

(Imported by name from test modules; conftest modules cannot be, since several directories
have one.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import create_key, create_org

__all__ = [
    "Api",
    "Tenant",
    "app_client",
    "make_tenant",
    "on_event_loop",
    "remote_api",
    "wait_healthy",
    "wait_until",
]


@dataclass
class Tenant:
    """An organization with one key per scope."""

    org_id: str
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def make_tenant(db: Database, name: str = "acme") -> Tenant:
    with db.write() as conn:
        org_id = create_org(conn, name)
        tenant = Tenant(org_id)
        for scope in ("ingest", "read", "admin"):
            _key, secret = create_key(conn, org_id, scope)  # type: ignore[arg-type]
            tenant.keys[scope] = secret
    return tenant


@dataclass
class Api:
    """An in-process client for one tenant; ``api.post(...)`` sends the admin key."""

    client: TestClient
    db: Database
    tenant: Tenant
    settings: Settings

    def request(self, method: str, url: str, *, scope: str = "admin", **kw: Any) -> Any:
        headers = {**self.tenant.headers(scope), **kw.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.request("PATCH", url, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.request("DELETE", url, **kw)


#: One app per test process and settings (the data directory aside): FastAPI builds an app's
#: routes on its first request, about 0.1 s, which most tests would otherwise spend again.
_APPS: dict[Settings, FastAPI] = {}
#: The apps a client is open on now.
_IN_USE: set[int] = set()


def _shape(app: FastAPI) -> list[Any]:
    """What a test could change of an app besides its state."""
    return [
        [id(route) for route in app.router.routes],
        list(app.user_middleware),
        dict(app.dependency_overrides),
        dict(app.exception_handlers),
    ]


@contextmanager
def app_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A client of ``create_app(settings, db=db)``: the process's app for these settings,
    given the whole state (store, settings, clock, slots) of a new app, so a test sees none
    of another's. An app a test changed otherwise is not used again."""
    fresh = create_app(settings, db=db, migrate=False)
    key = replace(settings, data_dir=Path())
    app = fresh if settings.queue_url else _APPS.setdefault(key, fresh)
    if id(app) in _IN_USE:  # a second client open at once: its own app, or states would mix
        app = fresh
    _IN_USE.add(id(app))
    app.state = fresh.state
    shape, stack, schema = _shape(app), app.middleware_stack, app.openapi_schema
    try:
        with TestClient(app) as client:
            yield client
    finally:
        _IN_USE.discard(id(app))
        # The middleware stack and the OpenAPI document are built on first use, then kept.
        changed = _shape(app) != shape or stack not in (None, app.middleware_stack)
        if changed or schema not in (None, app.openapi_schema):
            _APPS.pop(key, None)


def remote_api(url: str, keys: dict[str, str]) -> Api:
    """``Api``'s calls sent over HTTP to a server already running at ``url`` (the browser
    tests' ``margin serve``), with ``keys`` per scope. The store and settings are that
    server's, so ``db`` and ``settings`` are None; close ``api.client`` when done."""
    client = httpx.Client(base_url=url, timeout=30)
    return Api(client=client, db=None, tenant=Tenant("", dict(keys)), settings=None)  # type: ignore[arg-type]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a real server in a test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def on_event_loop() -> bool:
    """Whether the calling thread runs an event loop (a server's, not one of its workers)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def wait_healthy(
    url: str, process: subprocess.Popen[Any], timeout: float = 120.0, log: Path | None = None
) -> None:
    """Wait until the ``margin serve`` ``process`` answers ``url``'s ``/healthz`` with 200;
    fail the test, with the end of its ``log`` when given, if it exits first or does not
    answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        exited = process.poll() is not None
        if exited or time.monotonic() > deadline:
            process.kill()
            what = f"exited ({process.returncode})" if exited else f"did not answer in {timeout} s"
            text = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            pytest.fail(f"margin serve {what}" + (f":\n{text}" if text else ""))
        time.sleep(0.1)


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail the test if it does not within ``timeout``
    seconds (what a background thread does is waited for, never timed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
