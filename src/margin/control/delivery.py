"""Webhook delivery: claims due deliveries from the outbox, signs and sends them, and writes
a log row per attempt.

At-least-once: a delivery is pending until an endpoint answers 2xx. A sender first claims a
batch (``locked_until`` = now + lease, taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
under SQLite's single writer otherwise), so several ``margin serve`` processes never send
one delivery at the same time; a sender killed mid-send leaves its claim to expire, and the
delivery is sent again by whoever runs next. A failure is retried after the next step of
``BACKOFF_SECONDS`` (from seconds to hours); after the last the delivery is ``failed`` (a
manual replay sends it again). An endpoint whose attempts fail ``disable_after`` times in a
row is disabled.

Signatures follow the Standard Webhooks specification: ``webhook-id`` (the message id, the
same on every retry, for receivers to dedupe), ``webhook-timestamp`` (Unix seconds of the
attempt, from the wall clock) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``, with a second signature by the previous secret after a rotation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, select, update
from standardwebhooks.webhooks import Webhook

from margin._ids import new_id
from margin._time import isoformat, now_micros
from margin.store.db import Database
from margin.store.schema_control import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_messages,
)

__all__ = ["BACKOFF_SECONDS", "Sender", "delivery_log", "sign"]

#: Waits before the 2nd, 3rd, … attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
BACKOFF_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 36000)
_SECOND = 1_000_000


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value of one secret."""
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)


@dataclass
class _Job:
    id: str
    org_id: str
    attempts: int
    message_id: str
    payload: Any
    endpoint_id: str
    url: str
    secrets: list[str]


class Sender:
    """Sends due deliveries. ``clock`` (µs) decides what is due and when to retry; the
    signature's timestamp is the wall clock (``wall``, seconds), as receivers check it."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], int] = now_micros,
        wall: Callable[[], float] = time.time,
        timeout: float = 10.0,
        lease_seconds: int = 60,
        batch: int = 20,
        disable_after: int = 50,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.db, self.clock, self.wall = db, clock, wall
        self.lease = lease_seconds * _SECOND
        self.batch, self.disable_after = batch, disable_after
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self.client.close()

    def run_once(self) -> int:
        """Claim and send the deliveries due now; how many were attempted."""
        if not self._any_due():
            return 0
        jobs = self.db.transact(self._claim)
        for job in jobs:
            started = time.perf_counter()
            code, error = self._send(job)
            duration = int((time.perf_counter() - started) * _SECOND)
            self.db.transact(partial(self._record, job=job, result=(code, error, duration)))
        return len(jobs)

    def _any_due(self) -> bool:
        """A read first: an idle sender never takes SQLite's write lock."""
        now, d = self.clock(), webhook_deliveries
        with self.db.read() as conn:
            stmt = select(d.c.id).where(
                d.c.status == "pending", d.c.next_attempt_at <= now, d.c.locked_until <= now
            )
            return conn.execute(stmt.limit(1)).first() is not None

    def _claim(self, conn: Connection) -> list[_Job]:
        now = self.clock()
        d, m, e = webhook_deliveries, webhook_messages, webhook_endpoints
        ids = [
            r.id
            for r in conn.execute(
                select(d.c.id)
                .where(d.c.status == "pending", d.c.next_attempt_at <= now, d.c.locked_until <= now)
                .order_by(d.c.next_attempt_at, d.c.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
        ]
        if not ids:
            return []
        conn.execute(update(d).where(d.c.id.in_(ids)).values(locked_until=now + self.lease))
        rows = conn.execute(
            select(d.c.id, d.c.attempts, m.c.id.label("mid"), m.c.payload, e)
            .join(m, m.c.id == d.c.message_id)
            .join(e, e.c.id == d.c.endpoint_id)
            .where(d.c.id.in_(ids))
            .order_by(d.c.next_attempt_at, d.c.id)
        )
        jobs = []
        for r in rows:
            keys = [r.secret]
            if r.previous_secret and (r.previous_until or 0) > now:
                keys.append(r.previous_secret)
            if not r.enabled:
                conn.execute(update(d).where(d.c.id == r[0]).values(status="disabled"))
                continue
            jobs.append(_Job(r[0], r.org_id, r.attempts, r.mid, r.payload, r[4], r.url, keys))
        return jobs

    def _send(self, job: _Job) -> tuple[int | None, str | None]:
        body = orjson.dumps(job.payload).decode()
        stamp = int(self.wall())
        signature = " ".join(sign(key, job.message_id, stamp, body) for key in job.secrets)
        headers = {
            "content-type": "application/json",
            "webhook-id": job.message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature,
            "user-agent": "margin-webhooks",
        }
        try:
            response = self.client.post(job.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:512]
        return response.status_code, None

    def _record(
        self, conn: Connection, *, job: _Job, result: tuple[int | None, str | None, int]
    ) -> None:
        code, error, duration = result
        now = self.clock()
        d, e = webhook_deliveries, webhook_endpoints
        attempt = job.attempts + 1
        conn.execute(
            webhook_attempts.insert().values(
                id=new_id("wha"),
                org_id=job.org_id,
                delivery_id=job.id,
                attempt=attempt,
                ts=now,
                status_code=code,
                error=error,
                duration_us=duration,
            )
        )
        ok = code is not None and 200 <= code < 300
        values: dict[str, Any] = {"attempts": attempt, "last_status_code": code, "locked_until": 0}
        if ok:
            values.update(status="delivered", delivered_at=now)
        elif attempt > len(BACKOFF_SECONDS):
            values.update(status="failed")
        else:
            values.update(next_attempt_at=now + BACKOFF_SECONDS[attempt - 1] * _SECOND)
        conn.execute(update(d).where(d.c.id == job.id).values(**values))
        if ok:
            conn.execute(update(e).where(e.c.id == job.endpoint_id).values(failure_streak=0))
            return
        streak = conn.execute(
            update(e)
            .where(e.c.id == job.endpoint_id)
            .values(failure_streak=e.c.failure_streak + 1)
            .returning(e.c.failure_streak)
        ).scalar_one()
        if streak >= self.disable_after:
            conn.execute(
                update(e)
                .where(e.c.id == job.endpoint_id)
                .values(enabled=False, disabled_reason=f"{streak} failed attempts in a row")
            )


def delivery_log(
    conn: Connection, org_id: str, endpoint_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Deliveries, newest first, each with its attempts."""
    d, m, a = webhook_deliveries, webhook_messages, webhook_attempts
    stmt = select(d, m.c.event_type).join(m, m.c.id == d.c.message_id).where(d.c.org_id == org_id)
    if endpoint_id is not None:
        stmt = stmt.where(d.c.endpoint_id == endpoint_id)
    rows = conn.execute(stmt.order_by(d.c.created_at.desc(), d.c.id.desc()).limit(limit)).all()
    attempts: dict[str, list[dict[str, Any]]] = {r.id: [] for r in rows}
    if rows:
        for t in conn.execute(
            select(a).where(a.c.delivery_id.in_(list(attempts))).order_by(a.c.attempt)
        ):
            attempts[t.delivery_id].append(
                {
                    "attempt": t.attempt,
                    "at": isoformat(t.ts),
                    "status_code": t.status_code,
                    "error": t.error,
                    "duration_ms": t.duration_us // 1000,
                }
            )
    return [
        {
            "id": r.id,
            "message_id": r.message_id,
            "endpoint_id": r.endpoint_id,
            "event_type": r.event_type,
            "status": r.status,
            "attempts": r.attempts,
            "next_attempt_at": isoformat(r.next_attempt_at) if r.status == "pending" else None,
            "last_status_code": r.last_status_code,
            "created_at": isoformat(r.created_at),
            "delivered_at": None if r.delivered_at is None else isoformat(r.delivered_at),
            "log": attempts[r.id],
        }
        for r in rows
    ]
