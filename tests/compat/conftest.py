"""A real ``margin serve`` on 127.0.0.1 per test module and store (SQLite file, PostgreSQL
database), with an organization and one key per scope; the vendors' SDKs are pointed at it.

Flows that need a fresh process (Paid's tracing is initialised once per process and reads
its endpoint at import; Paygent patches provider classes) run as scripts in a subprocess:
``compat_support.run_script`` starts one with the environment the SDK reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from compat_support import Served
from sqlalchemy.engine import make_url

from margin.store.db import Database
from margin.store.keys import create_key, create_org
from margin_testing import free_port, wait_healthy

BIN = Path(sys.executable).parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_database(prefix: str) -> tuple[str, Any]:
    import psycopg

    admin_url = os.environ.get("MARGIN_TEST_POSTGRES_URL", DEFAULT_PG)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("MARGIN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but {admin_url} does not answer: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}")

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


@dataclass
class Server:
    """A running ``margin serve`` and its store."""

    url: str
    database_url: str
    store: str


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``margin serve`` on a fresh store of each kind, shared by the compatibility tests
    (each module has its own organization on it)."""
    data_dir = tmp_path_factory.mktemp("served")
    drop = None
    if request.param == "sqlite":
        database_url = f"sqlite:///{data_dir / 'margin.db'}"
    else:
        database_url, drop = _pg_database("margin_compat")
    db = Database(database_url)
    db.upgrade()
    db.dispose()
    port = free_port()
    env = {**os.environ, "MARGIN_DATABASE_URL": database_url, "MARGIN_DATA_DIR": str(data_dir)}
    log = (data_dir / "server.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "margin"), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log=data_dir / "server.log")
        yield Server(url, database_url, request.param)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if drop is not None:
            drop()


@pytest.fixture(scope="module")
def served(server: Server, request: pytest.FixtureRequest) -> Served:
    """A new organization with one key per scope on the shared server, for one module."""
    db = Database(server.database_url)
    with db.write() as conn:
        org_id = create_org(conn, request.module.__name__)
        keys = {scope: create_key(conn, org_id, scope)[1] for scope in ("ingest", "read", "admin")}
    db.dispose()
    return Served(server.url, server.database_url, org_id, keys, server.store)


PAID_LEGACY = "0.6.0"


@pytest.fixture(scope="session")
def paid_legacy() -> dict[str, str]:
    """paid-python 0.6.0 (it cannot share a venv with 1.12.0: both are the package ``paid``,
    and 0.6.0 ships its own ``opentelemetry.instrumentation.openai``), installed from PyPI
    once into its own directory beside the venv; scripts get it first on ``PYTHONPATH``."""
    target = Path(sys.prefix) / f"paid-python-{PAID_LEGACY}"
    done = target / ".installed"
    if not done.exists():
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-warn-conflicts",
                "--target",
                str(target),
                f"paid-python=={PAID_LEGACY}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"could not install paid-python=={PAID_LEGACY} from PyPI into {target} "
                f"(needed by the Paid 0.x compatibility tests):\n{proc.stderr[-2000:]}"
            )
        done.write_text(PAID_LEGACY + "\n")
    return {"PYTHONPATH": str(target)}
