"""The API in queue mode: an ingest request is validated as in direct mode, its accepted
items are published to JetStream, and the answer waits for JetStream's acknowledgement
(acknowledged = durable). ``QueueLedger`` takes the ``Ledger``'s place, so every ingest
path (REST, compatibility adapters) publishes through it unchanged.

What the edge answers itself: invalid items (``failed`` with the field, as in direct mode)
and repeats inside one request (``duplicate`` / ``conflict``). An item it publishes is
``accepted``; whether it turns out a duplicate of a fact stored earlier, or is refused by
what only the store knows (an unknown customer, a cost total), is decided by a writer:
counted in its log and kept as a dead letter (``GET /v1/queue/dead-letters``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import anyio.from_thread
import nats.errors
from nats.js.errors import APIError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from margin.pricing import Pricer
from margin.queue.config import QueueConfig
from margin.queue.envelope import Envelope, Op
from margin.queue.exports import export_envelopes
from margin.queue.stream import Stream
from margin.server._costdata import signal_cost
from margin.server._drafts import Draft, Prepare, plan
from margin.server._results import BatchResult, mark_conflict
from margin.server.items import CostIn, EventIn, SignalIn
from margin.server.ledger import BeforeCommit, Dedupe, Ledger
from margin.server.problems import Problem
from margin.settings import Settings
from margin.store.db import Database

__all__ = ["Publisher", "QueueLedger", "QueueUnavailable"]

#: How long the edge keeps trying to have a message acknowledged before it answers 503.
PUBLISH_DEADLINE = 15.0
#: Room left in a message for its headers and JSON framing (bytes).
_HEADROOM = 4096


class QueueUnavailable(Problem):
    def __init__(self, reason: str) -> None:
        super().__init__(
            503,
            f"the ingest queue did not acknowledge the request ({reason}); nothing was "
            "accepted: retry",
            field="body",
        )


class Publisher:
    """Publishes envelopes and waits for JetStream's acknowledgements; a publish that times
    out is retried with the same message id, which JetStream drops if it already has it."""

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        self.stream = Stream(config, "margin-edge")

    def ledger(self, db: Database, pricer: Pricer, settings: Settings) -> QueueLedger:
        return QueueLedger(db, pricer, settings, self)

    async def publish_export(self, org_id: str, request: ExportTraceServiceRequest) -> int:
        """Publish an OTLP export (in parts of whole traces when larger than a message) and
        wait for JetStream's acknowledgement; returns its span count. Spans a writer refuses
        (invalid ids, a time too far ahead) become its dead letters."""
        await self.stream.js()  # connected: the server's largest message is known
        await self.publish(export_envelopes(org_id, request, self.stream.max_payload - _HEADROOM))
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)

    async def lag(self) -> dict[str, Any]:
        return (await self.stream.lag()).body()

    async def dead_letters(self, org_id: str, limit: int) -> list[dict[str, Any]]:
        return [d.__dict__ for d in await self.stream.dead_letters(org_id, limit)]

    async def close(self) -> None:
        await self.stream.close()

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        await asyncio.gather(*(self._publish(e) for e in envelopes))

    async def _publish(self, envelope: Envelope) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PUBLISH_DEADLINE
        headers = envelope.headers()
        subject = self.config.ingest_subject(envelope.org_id)
        while True:
            try:
                js = await self.stream.js(max(0.1, deadline - loop.time()))
                await js.publish(subject, envelope.body, timeout=3, headers=headers)
                return
            except (nats.errors.Error, APIError, OSError) as exc:
                if loop.time() > deadline:
                    raise QueueUnavailable(type(exc).__name__) from None
                await asyncio.sleep(0.25)

    def publish_now(self, envelopes: Sequence[Envelope]) -> None:
        """``publish`` from a thread of the server's pool (where the ledger runs)."""
        anyio.from_thread.run(self.publish, envelopes)

    def split(self, op: Op, org_id: str, now: int, source: str, raws: list[Any]) -> list[Envelope]:
        """The items as envelopes each within the server's largest message."""
        limit = self.stream.max_payload - _HEADROOM
        envelopes: list[Envelope] = []
        chunk: list[Any] = []
        size = 2
        for raw in raws:
            one = len(Envelope.of_items(op, org_id, now, source, [raw]).body)
            if chunk and size + one + 1 > limit:
                envelopes.append(Envelope.of_items(op, org_id, now, source, chunk))
                chunk, size = [], 2
            chunk.append(raw)
            size += one + 1
        if chunk:
            envelopes.append(Envelope.of_items(op, org_id, now, source, chunk))
        return envelopes


def _signal_check(draft: Draft) -> tuple[str, str] | None:
    """A signal's ``data.costData`` checked as the direct path checks it."""
    cost_data = draft.item.data.get("costData")
    if not isinstance(cost_data, dict):
        return None
    _cost, problem = signal_cost(cost_data)
    return problem


class QueueLedger(Ledger):
    """The ledger of a server in queue mode: validates, publishes, answers ``accepted``.
    Work that must run inside the write transaction (``before_commit``) cannot travel in
    a message: such a call is written directly, as in direct mode."""

    def __init__(self, db: Database, pricer: Pricer, settings: Settings, pub: Publisher) -> None:
        super().__init__(db, pricer, settings)
        self.publisher = pub

    def ingest_signals(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
        dedupe: Dedupe = "content",
    ) -> BatchResult:
        if before_commit is not None:
            return super().ingest_signals(
                org_id, items, source, before_commit=before_commit, dedupe=dedupe
            )
        return self._accept("signals", SignalIn, org_id, items, source, dedupe, _signal_check)

    def ingest_costs(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
        dedupe: Dedupe = "content",
    ) -> BatchResult:
        if before_commit is not None:
            return super().ingest_costs(
                org_id, items, source, before_commit=before_commit, dedupe=dedupe
            )
        return self._accept("costs", CostIn, org_id, items, source, dedupe)

    def ingest_events(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
        dedupe: Dedupe = "content",
    ) -> BatchResult:
        if before_commit is not None:
            return super().ingest_events(
                org_id, items, source, before_commit=before_commit, dedupe=dedupe
            )
        return self._accept("events", EventIn, org_id, items, source, dedupe)

    def _accept(
        self,
        op: Op,
        model: type[SignalIn | CostIn | EventIn],
        org_id: str,
        items: Sequence[Any],
        source: str,
        dedupe: Dedupe,
        prepare: Prepare | None = None,
    ) -> BatchResult:
        now, horizon = self._clock()
        drafts = plan(items, model, now, horizon, dedupe, prepare)
        raws = []
        for draft in drafts.fresh:
            raw = draft.raw
            if draft.item.idempotency_key is None and not draft.key.startswith("auto:"):
                # A key drawn at random (dedupe=none) travels with the item, so that a
                # redelivered message stores it once.
                raw = {**raw, "idempotency_key": draft.key}
            raws.append(raw)
            draft.result.status = "accepted"
        limit = self.publisher.stream.max_payload - _HEADROOM
        sendable = []
        for draft, raw in zip(drafts.fresh, raws, strict=True):
            if len(Envelope.of_items(op, org_id, now, source, [raw]).body) > limit:
                draft.result.status, draft.result.field = "failed", "body"
                draft.result.detail = f"the item is larger than the queue's {limit} bytes"
            else:
                sendable.append(raw)
        if sendable:
            self.publisher.publish_now(self.publisher.split(op, org_id, now, source, sendable))
        for result, key, content in drafts.repeats:
            first = drafts.first_of[key]
            if first.digest != content:
                mark_conflict(result)
            elif first.result.status == "accepted":
                result.status = "duplicate"
            else:
                result.field, result.detail = first.result.field, first.result.detail
        return BatchResult(drafts.results)
