"""Test support shared by every test directory: tenants with keys and an API client.

(Imported by name from test modules; conftest modules cannot be, since several directories
have one.)"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import create_key, create_org

__all__ = ["Api", "Tenant", "make_tenant", "remote_api"]


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
