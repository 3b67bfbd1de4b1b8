"""Shared fixtures: real stores (a SQLite file and a PostgreSQL database), tenants with keys,
and an in-process client for the API.

PostgreSQL tests run whenever a server answers (``MARGIN_TEST_POSTGRES_URL``, default the
local one); each test session creates its own database and drops it afterwards. With
``MARGIN_REQUIRE_POSTGRES=1`` (set by CI) an unreachable server fails instead of skipping.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.schema import metadata
from margin_testing import Api, Tenant, app_client, make_tenant
from xdist_groups import GroupScheduling, configure_node, group_of, write_groups

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_reachable(url: str) -> bool:
    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5432), 1.0):
            return True
    except OSError:
        return False


@contextmanager
def _scratch_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database, dropped when the block ends (skips or, under CI, fails
    when no server answers)."""
    admin_url = os.environ.get("MARGIN_TEST_POSTGRES_URL", DEFAULT_PG)
    if not _pg_reachable(admin_url):
        if os.environ.get("MARGIN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but {admin_url} does not answer")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}")
    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    plain = make_url(admin_url).set(drivername="postgresql")
    dsn = plain.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with _scratch_database("margin_test") as url:
        migrated = Database(url)
        migrated.upgrade()
        migrated.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "margin.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


def _empty(db: Database) -> None:
    """Delete every row a test left. DELETE, not TRUNCATE: a test leaves a few rows, and
    truncating every table (each with its partitions gets new files) takes 0.3 s a test
    against 13 ms for the deletes, a fifth of the PostgreSQL half of the suite."""
    with db.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):  # children before their parents
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store a test runs on; every storage test runs on both."""
    kind: str = request.param
    return kind


def _store(kind: str, request: pytest.FixtureRequest, directory: Path) -> Database:
    """A migrated, empty store of ``kind`` (a SQLite file in ``directory``)."""
    if kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = directory / "margin.db"
        shutil.copy(template, path)
        return Database(f"sqlite:///{path}")
    url: str = request.getfixturevalue("postgres_url")
    database = Database(url)
    _empty(database)
    return database


@pytest.fixture
def db(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty store of the kind under test."""
    CUSTOMERS._ids.clear()
    AGENTS._ids.clear()
    database = _store(store_kind, request, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def empty_url(store_kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, unmigrated store of the kind under test."""
    if store_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with _scratch_database("margin_mig") as url:
        yield url


@pytest.fixture
def tenant(db: Database) -> Tenant:
    return make_tenant(db)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def api(db: Database, tenant: Tenant, settings: Settings) -> Iterator[Api]:
    """The API for one tenant, over an in-process ASGI client."""
    with app_client(settings, db) as client:
        yield Api(client=client, db=db, tenant=tenant, settings=settings)


@pytest.fixture
def apis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Api]]:
    """``api`` on both stores at once, by kind: for a test that sends the same generated
    inputs to both (generated once) and compares their answers."""
    CUSTOMERS._ids.clear()
    AGENTS._ids.clear()
    with ExitStack() as stack:
        found = {}
        for kind in ("sqlite", "postgres"):
            (tmp_path / kind).mkdir()
            db = _store(kind, request, tmp_path / kind)
            stack.callback(db.dispose)
            settings = Settings(data_dir=tmp_path / kind)
            client = stack.enter_context(app_client(settings, db))
            found[kind] = Api(client=client, db=db, tenant=make_tenant(db), settings=settings)
        yield found


def pytest_configure(config: pytest.Config) -> None:
    # Run after pytest's last collection of garbage (it reports what a finalizer raised): at
    # exit the interpreter would otherwise collect every object of the process again, seconds
    # that each test process spends after its last test.
    config.add_cleanup(gc.freeze)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last: Playwright's sync API keeps an event loop running on the main
    thread while its browser is open, which asyncio tests after it cannot share. Before the
    others, the long tests and the groups (``xdist_groups``), so that none is left to run
    alone at the end."""
    groups = {item.nodeid: group_of(item) for item in items}
    items.sort(
        key=lambda item: (
            item.get_closest_marker("browser") is not None,
            item.get_closest_marker("slow") is None and groups[item.nodeid] is None,
        )
    )
    write_groups(config, {nodeid: group for nodeid, group in groups.items() if group})


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    configure_node(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return GroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None
