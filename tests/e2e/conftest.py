"""End-to-end fixtures: a real uvicorn server on 127.0.0.1 over a SQLite file, that can be
stopped and started again on the same port, and an SDK state reset around each test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import uvicorn
from opentelemetry import trace as trace_api
from opentelemetry.util._once import Once

from margin.sdk import runtime
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import create_key, create_org
from margin_testing import free_port


@dataclass
class LiveServer:
    """Margin served by uvicorn in a thread; ``stop()`` and ``start()`` simulate an outage."""

    db_path: Path
    port: int = field(default_factory=free_port)
    keys: dict[str, str] = field(default_factory=dict)
    org_id: str = ""
    #: The largest request body the server takes (``MARGIN_MAX_BODY_BYTES``); None: default.
    max_body_bytes: int | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def bootstrap(self) -> None:
        db = Database(self.database_url)
        db.upgrade()
        with db.write() as conn:
            self.org_id = create_org(conn, "e2e")
            for scope in ("ingest", "read"):
                _key, self.keys[scope] = create_key(conn, self.org_id, scope)
        db.dispose()

    def start(self) -> None:
        settings = Settings(data_dir=self.db_path.parent, database_url=self.database_url)
        if self.max_body_bytes is not None:
            settings = replace(settings, max_body_bytes=self.max_body_bytes)
        app = create_app(settings, migrate=False)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", ws="none", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Margin server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=20)
            app_db = self._server.config.app.state.margin.db
            app_db.dispose()
            self._server = self._thread = None


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "margin.db")
    server.bootstrap()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sdk_reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No global tracer provider and no Margin configuration before; restored after."""
    monkeypatch.delenv("MARGIN_API_KEY", raising=False)
    monkeypatch.delenv("MARGIN_BASE_URL", raising=False)
    saved = (trace_api._TRACER_PROVIDER, trace_api._TRACER_PROVIDER_SET_ONCE)
    runtime._reset()
    trace_api._TRACER_PROVIDER = None
    trace_api._TRACER_PROVIDER_SET_ONCE = Once()
    yield
    runtime._reset()
    trace_api._TRACER_PROVIDER, trace_api._TRACER_PROVIDER_SET_ONCE = saved
