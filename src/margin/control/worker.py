"""The control plane's background work, run by every ``margin serve`` process: grants that
expire (and renew), alert rules evaluated, webhook deliveries sent.

Each tick is safe to run in several processes at once: expiry closes a grant with a
conditional update, alerts fire through a unique row, deliveries are claimed with a lease.
``clock`` is injectable, so tests run ticks at any time without sleeping.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from margin._time import now_micros
from margin.control.alerts import evaluate
from margin.control.delivery import Sender
from margin.control.renewals import due_grants, expire_due
from margin.store.db import Database

__all__ = ["ControlWorker"]

log = logging.getLogger("margin.control")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


class ControlWorker:
    """Runs ``tick`` every ``interval`` seconds on a daemon thread (``start``/``stop``)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], int] = now_micros,
        interval: float | None = None,
        sender: Sender | None = None,
    ) -> None:
        self.db, self.clock = db, clock
        self.interval = (
            interval
            if interval is not None
            else _env_int("MARGIN_CONTROL_INTERVAL_MS", 1000) / 1000
        )
        lease = _env_int("MARGIN_WEBHOOK_LEASE_SECONDS", 60)
        #: Alert rules read reports: they are evaluated every this often, not every tick.
        self.alert_interval_us = _env_int("MARGIN_ALERT_INTERVAL_SECONDS", 10) * 1_000_000
        self._next_alerts = 0
        self.sender = sender or Sender(db, clock=clock, lease_seconds=lease)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:
        """One round of work; how many deliveries were attempted. Writes are only started
        when a read found work (SQLite has one writer: an idle tick must not queue on it)."""
        now = self.clock()
        self._step("grant expiry", self._expire, now)
        if now >= self._next_alerts:
            self._next_alerts = now + self.alert_interval_us
            self._step("alert evaluation", evaluate, self.db, now)
        return self._step("webhook delivery", self.sender.run_once)

    def _expire(self, now: int) -> int:
        if not due_grants(self.db, now):
            return 0
        return self.db.transact(lambda conn: expire_due(conn, now))

    @staticmethod
    def _step(name: str, work: Callable[..., int], *args: object) -> int:
        """Run one step of a tick; a failure is logged and the tick goes on, so that one
        organization's bad row never stops the others' expiries, alerts and webhooks."""
        try:
            return work(*args)
        except Exception:
            log.exception("control worker: %s failed", name)
            return 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="margin-control", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        self.sender.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.tick()
            except Exception:  # one bad tick must not end the worker: log, then go on
                log.exception("control worker tick failed")
                busy = 0
            if not busy:
                self._stop.wait(self.interval)
