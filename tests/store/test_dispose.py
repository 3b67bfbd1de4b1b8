"""A disposed store refuses further use instead of quietly opening new connections that
nobody will close."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from margin.store.db import Database, StoreClosed


def test_a_disposed_store_refuses_reads_and_writes(db: Database) -> None:
    with db.read() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    db.dispose()
    with pytest.raises(StoreClosed), db.read():
        pass
    with pytest.raises(StoreClosed), db.write():
        pass
    db.dispose()  # disposing twice is harmless
    assert db.engine.pool.checkedout() == 0
