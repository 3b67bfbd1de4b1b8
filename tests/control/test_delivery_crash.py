"""A ``margin serve`` killed with SIGKILL while a webhook is being delivered sends it again
after a restart: the outbox row outlives the process, and its claim (a lease) expires."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from receiver import Receiver
from sqlalchemy import select

from margin._time import now_micros
from margin.control.outbox import EndpointIn, create_endpoint, emit
from margin.store.db import Database
from margin.store.keys import create_key, create_org
from margin.store.schema_control import webhook_deliveries
from margin_testing import wait_healthy

pytestmark = pytest.mark.slow


def _serve(db: Database, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MARGIN_DATABASE_URL": db.url,
        "MARGIN_DATA_DIR": str(tmp_path),
        "MARGIN_CONTROL_INTERVAL_MS": "100",
        "MARGIN_WEBHOOK_LEASE_SECONDS": "2",
    }
    margin = Path(sys.executable).with_name("margin")
    proc = subprocess.Popen(
        [str(margin), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def test_sigkill_mid_delivery_resends_after_restart(db: Database, tmp_path: Path) -> None:
    from margin_testing import free_port

    receiver = Receiver(hold_first=True)
    with db.write() as conn:
        org = create_org(conn, "crash")
        create_key(conn, org, "admin")
        create_endpoint(conn, org, EndpointIn(url=receiver.url), now_micros())
        message = emit(conn, org, "credits.low", {"customer_id": "cus_1"}, now_micros())
    port = free_port()
    proc = _serve(db, tmp_path, port)
    try:
        assert receiver.holding.wait(30), "the delivery never started"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        receiver.release.set()
        proc = _serve(db, tmp_path, port)
        deadline = time.monotonic() + 30
        # Until the server has recorded the delivery, not only made it: the receiver's answer
        # reaches the log a moment before the server commits what it heard.
        while not (receiver.delivered() and _recorded(db)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait(10)
        receiver.close()
    ids = [r.headers["webhook-id"] for r in receiver.log]
    assert ids == [message, message]  # the killed attempt, then the one that arrived
    assert [r.status for r in receiver.log] == [0, 204]
    with db.read() as conn:
        (row,) = conn.execute(select(webhook_deliveries)).all()
    assert (row.status, row.attempts) == ("delivered", 1)


def _recorded(db: Database) -> bool:
    with db.read() as conn:
        statuses = conn.execute(select(webhook_deliveries.c.status)).scalars().all()
    return statuses == ["delivered"]
