"""The REST client against the server's OpenAPI document: every ``/v1`` operation has a
client method and every client operation exists, so neither can drift from the other. And
the client imports with the SDK's dependencies only (no server package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from margin.sdk import client as _client  # noqa: F401  (declares every resource's operations)
from margin.sdk._operations import OPERATIONS
from margin.server.app import create_app
from margin.settings import Settings

_METHODS = {"get", "post", "put", "patch", "delete"}


def _api_operations(tmp_path: Path) -> set[tuple[str, str]]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'm.db'}")
    app = create_app(settings, migrate=False)  # the document needs no schema
    try:
        spec = app.openapi()
    finally:
        app.state.margin.db.dispose()
    return {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/") or path == "/v1"
        for method in ops
        if method in _METHODS
    }


def test_every_api_operation_has_a_client_method_and_back(tmp_path: Path) -> None:
    api = _api_operations(tmp_path)
    client = {(op.method, op.path) for op in OPERATIONS}
    assert len(client) == len(OPERATIONS), "an operation is declared twice"
    assert sorted(api - client) == [], "API operations without a client method"
    assert sorted(client - api) == [], "client operations the API does not have"
    assert len(api) >= 64  # the document was read (64 operations when this was written)


def test_the_client_imports_without_server_dependencies() -> None:
    # A finder that refuses every server-side package: the SDK must not need one.
    code = """
import sys
BLOCKED = ("fastapi", "starlette", "sqlalchemy", "pydantic", "uvicorn", "typer", "rich",
           "alembic", "pyarrow", "psycopg")
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"server dependency imported: {name}")
        return None
sys.meta_path.insert(0, Refuse())
from margin import AsyncMargin, Margin
client = Margin("mk_x", "http://127.0.0.1:9")
assert client.invoices and client.exports and client.exchange_rates and client.meters
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
