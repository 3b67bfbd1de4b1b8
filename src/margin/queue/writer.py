"""A writer (``margin worker``): takes ingest messages from JetStream's durable pull
consumer, stores each through the same ``Ledger`` (or OTLP receiver) as the direct path,
and acknowledges after the commit.

Any number of writers share the consumer. A message is stored once however often it is
delivered: its items carry their idempotency keys, and it dates items sent without a time
by the edge's reception time. While the database does not answer, a writer keeps the
message (telling JetStream it is in progress) and tries again with a growing pause: it
neither acknowledges nor loses it, and the attempt does not count against the message. A
message that fails for another reason is delivered again, up to ``max_deliver`` times,
then kept as a dead letter with its reason; so is an item refused at write time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import nats.errors
import orjson
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import APIError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from margin.compat import ROUTERS as COMPAT_ROUTERS
from margin.pricing import Pricer
from margin.queue.config import QueueConfig
from margin.queue.envelope import Envelope, EnvelopeError
from margin.queue.stream import Stream
from margin.server.ledger import BatchResult, Ledger
from margin.server.otlp import receive
from margin.server.state import AppState
from margin.settings import Settings
from margin.store.db import Database
from margin.store.partitions import PartitionKeeper

__all__ = ["Refusal", "Writer"]

log = logging.getLogger("margin.queue")

#: The longest pause between two attempts while the database does not answer (seconds).
MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class Refusal:
    """An item (or span) a writer could not store, and why: a dead letter."""

    reason: str
    body: bytes


class Writer:
    """Stores ingest messages; ``run`` until ``stop`` is set."""

    def __init__(
        self, config: QueueConfig, settings: Settings, db: Database, *, batch: int = 32
    ) -> None:
        self.config = config
        self.state = AppState(settings=settings, db=db, pricer=Pricer(db))
        self.stream = Stream(config, "margin-writer")
        self.batch = batch
        #: messages, ingested, duplicates, dead_letters, outages: what this writer did.
        self.stats: Counter[str] = Counter()
        for name in COMPAT_ROUTERS:  # their hooks into the OTLP path, as the API has them
            importlib.import_module(name)

    async def _subscribe(self, stop: asyncio.Event) -> tuple[JetStreamContext, Any] | None:
        """The durable pull consumer, once JetStream answers (a cluster may still be
        electing its leaders): None if stopped first, even in the middle of an attempt."""
        said = ""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                attempt = asyncio.ensure_future(self._consumer())
                await asyncio.wait({attempt, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not attempt.done():  # stopped: the connection attempt is closed
                    attempt.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await attempt
                    return None
                try:
                    return attempt.result()
                except (nats.errors.Error, APIError, OSError, TimeoutError) as exc:
                    if repr(exc) != said:  # each new reason once, not every half second
                        said = repr(exc)
                        log.warning("margin worker: JetStream not ready (%s); retrying", said)
                await asyncio.wait({stopped}, timeout=0.5)  # a pause, unless stopped
            return None
        finally:
            stopped.cancel()

    async def _consumer(self) -> tuple[JetStreamContext, Any]:
        js = await self.stream.js()
        sub = await js.pull_subscribe(
            f"{self.config.subject}.>",
            durable=self.config.consumer,
            stream=self.config.stream,
            config=ConsumerConfig(ack_wait=self.config.ack_wait, max_deliver=-1),
        )
        return js, sub

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        subscribed = await self._subscribe(stop)
        if subscribed is None:
            return
        js, sub = subscribed
        if ready is not None:
            ready.set()
        keeper = PartitionKeeper(self.state.db)  # months ahead, also where no API runs
        keeper.start()
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self.batch, timeout=1)
                except TimeoutError:  # nothing to do (nats-py raises either kind)
                    continue
                except (nats.errors.Error, APIError, OSError) as exc:
                    log.warning("margin worker: fetch failed (%r); retrying", exc)
                    await asyncio.sleep(0.5)
                    continue
                for i, msg in enumerate(msgs):
                    if stop.is_set():
                        break  # not acknowledged: JetStream delivers it again
                    await self._handle(js, msg, msgs[i + 1 :], stop)
        finally:
            keeper.stop()
            await self.stream.close()

    async def _handle(self, js: JetStreamContext, msg: Msg, waiting: list[Msg], stop: Any) -> None:
        try:
            envelope = Envelope.read(msg.headers, msg.data)
        except EnvelopeError as exc:
            await self._dead(js, msg.headers or {}, f"unreadable message: {exc}", msg.data, "")
            await _ack(msg)
            return
        backoff = 0.1
        while True:
            work = asyncio.ensure_future(asyncio.to_thread(self._store, envelope))
            while not (await asyncio.wait({work}, timeout=self.config.ack_wait / 3))[0]:
                await _keep(msg, waiting)  # a large batch: still ours
            try:
                refusals = work.result()
                break
            except Exception as exc:
                if await asyncio.to_thread(self._store_answers):
                    await self._failed(js, msg, envelope, exc)
                    return
                self.stats["outages"] += 1
                log.warning("margin worker: the store does not answer (%s); waiting", exc)
            # The database is away: keep the messages (no redelivery, no attempt counted).
            await _keep(msg, waiting)
            if stop.is_set():
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
        for index, refusal in enumerate(refusals):
            await self._dead(
                js, msg.headers or {}, refusal.reason, refusal.body, f"{envelope.msg_id}:{index}"
            )
        self.stats["messages"] += 1
        await _ack(msg)

    def _store(self, envelope: Envelope) -> list[Refusal]:
        """Store one message's payload (in this thread); the items refused."""
        state = self.state
        org_id = envelope.org_id
        if envelope.op == "otlp":
            request = ExportTraceServiceRequest()
            request.ParseFromString(envelope.body)
            received = receive(state, org_id, request)
            self.stats["spans"] += received.spans
            return [Refusal(reason, b"") for reason in received.rejected]
        items = envelope.items()
        ledger = Ledger(state.db, state.pricer, state.settings, clock=lambda: envelope.received)
        ingest = {
            "signals": ledger.ingest_signals,
            "costs": ledger.ingest_costs,
            "events": ledger.ingest_events,
        }[envelope.op]
        result: BatchResult = ingest(org_id, items, envelope.source)
        self.stats["ingested"] += result.ingested
        self.stats["duplicates"] += result.duplicates
        return [
            Refusal(f"{r.status}: {r.field}: {r.detail}", orjson.dumps(items[r.index]))
            for r in result.failed
        ]

    def _store_answers(self) -> bool:
        try:
            with self.state.db.read() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    async def _failed(
        self, js: JetStreamContext, msg: Msg, envelope: Envelope, exc: Exception
    ) -> None:
        """A message that failed while the store answers: again later, or a dead letter."""
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        delivered = msg.metadata.num_delivered or 1
        log.error(
            "margin worker: message %s failed (%s), delivery %d", envelope.msg_id, reason, delivered
        )
        if delivered < self.config.max_deliver:
            await msg.nak(delay=min(delivered, MAX_BACKOFF))
            return
        await self._dead(js, msg.headers or {}, reason, msg.data, f"{envelope.msg_id}:msg")
        await _ack(msg)

    async def _dead(
        self, js: JetStreamContext, headers: dict[str, str], reason: str, body: bytes, key: str
    ) -> None:
        org = headers.get("Margin-Org") or "unknown"
        dead = {
            "Margin-Org": org,
            "Margin-Op": headers.get("Margin-Op", ""),
            "Margin-Reason": reason.replace("\r", " ").replace("\n", " ")[:1000],
        }
        if key:  # a redelivered message's dead letters are kept once
            dead["Nats-Msg-Id"] = key
        await js.publish(self.config.dead_letter_subject(org), body, headers=dead, timeout=5)
        self.stats["dead_letters"] += 1


async def _ack(msg: Msg) -> None:
    try:
        await msg.ack_sync(timeout=2)
    except (nats.errors.Error, APIError) as exc:
        # Stored but not acknowledged: JetStream delivers it again, and it stores nothing.
        log.warning("margin worker: acknowledgement lost (%s)", exc)


async def _keep(msg: Msg, waiting: list[Msg]) -> None:
    for m in (msg, *waiting):
        with contextlib.suppress(nats.errors.Error, APIError):
            await m.in_progress()
