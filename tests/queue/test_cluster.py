"""A 3-node JetStream cluster (started here from the ``nats-server`` binary), a stream with
3 replicas, an API in queue mode and two ``margin worker`` processes: under load from 4
clients, one NATS node and one writer are killed with SIGKILL, and every acknowledged item
is stored exactly once."""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from load_support import Load, serve, stored_keys
from nats_support import close_stray_streams, nats_cluster, sigterm, wait_for, worker_process
from sqlalchemy import func, select

from margin.queue.config import QueueConfig
from margin.queue.edge import Publisher
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.schema import signal_rollups
from margin_testing import Tenant

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_killing_a_node_and_a_writer_loses_nothing_acknowledged(
    tmp_path: Path, db: Database, tenant: Tenant, settings: Settings, postgres_url: str
) -> None:
    try:
        _kill_a_node_and_a_writer(tmp_path, db, tenant, settings, postgres_url)
    finally:
        close_stray_streams()  # its app and clients gone: what nats-py left open is closed here


def _kill_a_node_and_a_writer(
    tmp_path: Path, db: Database, tenant: Tenant, settings: Settings, postgres_url: str
) -> None:
    with nats_cluster(tmp_path / "nats") as nodes:
        url = ",".join(n.url for n in nodes)
        config = replace(QueueConfig.of(url), replicas=3)
        env = {
            "MARGIN_QUEUE_URL": url,
            "MARGIN_QUEUE_REPLICAS": "3",
            # What the killed writer held is delivered again after this many seconds.
            "MARGIN_QUEUE_ACK_WAIT": "2",
            "MARGIN_DATABASE_URL": postgres_url,
        }
        writers = [worker_process(tmp_path / f"writer{i}.log", **env) for i in range(2)]
        app = create_app(replace(settings, queue_url=url), db=db, migrate=False)
        app.state.margin.queue = Publisher(config)
        try:
            with serve(app) as base:
                load = Load(base, tenant.keys["ingest"], clients=4, batches=25, pause=0.02)
                load.start()
                wait_for(lambda: load.count >= 100, 60, "the first acknowledged items")
                nodes[0].kill()
                writers[0].send_signal(signal.SIGKILL)
                load.join()
                assert load.count == 4 * 25 * 5  # every batch was acknowledged in the end
                wait_for(lambda: len(stored_keys(db)) >= load.count, 60, "the writers")
                time.sleep(0.5)  # a late duplicate would show now
        finally:
            for writer in writers:
                sigterm(writer, 20)
        keys = stored_keys(db)
        assert len(keys) == len(set(keys)) == load.count
        assert set(keys) == load.acked
        with db.read() as conn:
            counted = conn.execute(select(func.sum(signal_rollups.c.signals))).scalar_one()
        assert counted == load.count  # the rollups counted each item once too
        assert writers[1].returncode == 0
