"""PostgreSQL stopped under load in queue mode (an instance the test starts itself): ingest
keeps answering 2xx, the lag goes up, and once the database is back every acknowledged item
is stored once and the lag is back to zero. The outage lasts
``MARGIN_TEST_OUTAGE_SECONDS`` (default 4; the issue's 30 with that variable set)."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import httpx
from load_support import Load, serve, stored_keys
from nats_support import NatsNode, WriterThread, queue_config, wait_for
from pg_support import own_postgres

from margin.queue.edge import Publisher
from margin.queue.writer import Writer
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin_testing import make_tenant

OUTAGE = float(os.environ.get("MARGIN_TEST_OUTAGE_SECONDS", "4"))


def test_ingest_answers_through_a_database_outage(nats: NatsNode, settings: Settings) -> None:
    config = queue_config(nats.url, f"pg{os.urandom(4).hex()}")
    with own_postgres() as pg:
        db = Database(pg.url, pool_size=4)
        db.upgrade()
        tenant = make_tenant(db)
        app = create_app(replace(settings, queue_url=nats.url), db=db, migrate=False)
        app.state.margin.queue = Publisher(config)
        writer = WriterThread(Writer(config, settings, db)).start()
        try:
            with serve(app) as base, httpx.Client(base_url=base, timeout=10) as health:
                batches = max(20, int(OUTAGE * 10))
                load = Load(base, tenant.keys["ingest"], clients=2, batches=batches, pause=0.1)
                load.start()
                wait_for(lambda: load.count >= 20, 30, "acknowledged items before the outage")
                pg.stop()
                down_at, seen = time.monotonic(), []
                while time.monotonic() - down_at < OUTAGE:
                    seen.append(health.get("/v1/health").json())
                    time.sleep(0.25)
                pg.start()
                load.join()
                wait_for(lambda: len(stored_keys(db)) >= load.count, 60, "the writer")
                wait_for(lambda: health.get("/v1/health").json()["queue"]["messages"] == 0, 10, "0")
                after = health.get("/v1/health").json()
            keys = stored_keys(db)
        finally:
            writer.close()
            db.dispose()
        assert set(load.answers) == {200}  # never an error, outage or not
        assert any(h["store"] == "unreachable" for h in seen)
        assert max(h["queue"]["messages"] for h in seen) > 0  # the lag went up…
        assert after["queue"]["messages"] == 0  # …and back to zero
        assert after["store"] == "ok"
        assert len(keys) == len(set(keys)) == load.count == 2 * batches * 5
        assert writer.writer.stats["outages"] >= 1
