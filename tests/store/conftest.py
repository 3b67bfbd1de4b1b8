"""Fixtures of the store tests: a store migrated by the test itself (its partitions and
archives are that test's only, unlike the session's shared, emptied database), and the API
over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from margin.settings import Settings
from margin.store.db import Database
from margin_testing import Api, app_client, make_tenant


@pytest.fixture
def store(empty_url: str) -> Iterator[Database]:
    """A new store of the kind under test, migrated here."""
    db = Database(empty_url)
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def api(store: Database, tmp_path: Path) -> Iterator[Api]:
    """The API for one tenant of ``store``, over an in-process ASGI client."""
    settings = Settings(data_dir=tmp_path)
    with app_client(settings, store) as client:
        yield Api(client=client, db=store, tenant=make_tenant(store), settings=settings)
