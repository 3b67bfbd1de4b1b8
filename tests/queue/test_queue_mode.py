"""Queue mode against a real JetStream: the edge answers once JetStream has the items, a
writer stores them through the ledger exactly once, refused items and poison messages
become dead letters, and the lag is reported. On both stores."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient
from nats_support import NatsNode, WriterThread, queue_client, queue_config, wait_for
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import func, select

from margin._time import now_micros
from margin.queue.config import QueueConfig
from margin.queue.edge import Publisher
from margin.queue.writer import Writer
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.schema import costs, events, signals, spans
from margin_testing import Tenant


@pytest.fixture
def config(nats: NatsNode) -> QueueConfig:
    return queue_config(nats.url, f"t{os.urandom(4).hex()}", max_deliver=2)


@pytest.fixture
def client(db: Database, settings: Settings, config: QueueConfig) -> Iterator[TestClient]:
    with queue_client(db, settings, config) as test_client:
        yield test_client


def count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def lag(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/v1/health").json()
    return body["queue"]


def test_acknowledged_items_are_stored_once_by_a_writer(
    client: TestClient, db: Database, tenant: Tenant, settings: Settings, config: QueueConfig
) -> None:
    h = tenant.headers("ingest")
    batch = [
        {"event_name": "booked", "customer": "c1", "idempotency_key": "s1"},
        {"event_name": "booked", "customer": "c1", "idempotency_key": "s1"},
        {"event_name": "booked"},
        {"event_name": "booked", "customer": "c2"},
        {"event_name": "booked", "customer": "c2", "idempotency_key": "s1"},
    ]
    before = now_micros()
    first = client.post("/v1/signals", json={"items": batch}, headers=h)
    after = now_micros()
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["accepted"], body["ingested"], body["duplicates"]) == (2, 0, 1)
    assert [i["status"] for i in body["items"]] == [
        "accepted", "duplicate", "failed", "accepted", "conflict",
    ]  # fmt: skip
    assert [(f["index"], f["field"]) for f in body["failed"]] == [
        (2, "customer"),
        (4, "idempotency_key"),
    ]
    # A retry of the whole request: the edge cannot know, the writer does.
    assert client.post("/v1/signals", json={"items": batch}, headers=h).json()["accepted"] == 2
    one = client.post(
        "/v1/costs",
        json={"customer": "c1", "amount": "0.5", "currency": "USD", "idempotency_key": "k1"},
        headers=h,
    )
    assert one.status_code == 202
    assert (one.json()["status"], one.json()["id"]) == ("accepted", None)
    same = [{"type": "call", "customer": "c1", "data": {"n": 1}}] * 2
    unkeyed = client.post("/v1/events?dedupe=none", json={"items": same}, headers=h).json()
    assert unkeyed["accepted"] == 2
    assert count(db, signals) == 0  # nothing is written by the edge
    assert lag(client)["messages"] == 4
    assert client.get("/v1/health").json()["mode"] == "queue"

    writer = WriterThread(Writer(config, settings, db)).start()
    try:
        wait_for(lambda: writer.writer.stats["messages"] == 4, 20, "the writer")
        assert lag(client) == {"messages": 0, "seconds": 0.0, "dead_letters": 0}
    finally:
        writer.close()
    assert (count(db, signals), count(db, costs), count(db, events)) == (2, 1, 2)
    assert writer.writer.stats["ingested"] == 5
    assert writer.writer.stats["duplicates"] == 2
    with db.read() as conn:
        stamps = conn.execute(select(signals.c.ts).where(signals.c.idempotency_key != "s1"))
        [ts] = [row.ts for row in stamps]
    assert before <= ts <= after  # dated when the edge received it, not when written


def _publish(config: QueueConfig, headers: dict[str, str], body: bytes) -> None:
    async def main() -> None:
        nc = await nats.connect(config.url)
        try:
            await nc.jetstream().publish(config.ingest_subject("x"), body, headers=headers)
        finally:
            await nc.close()

    asyncio.run(main())


def test_refused_items_and_poison_messages_become_dead_letters(
    db: Database, tenant: Tenant, settings: Settings, config: QueueConfig
) -> None:
    strict = replace(settings, auto_create_customers=False, queue_url=config.url)
    app = create_app(strict, db=db, migrate=False)
    app.state.margin.queue = Publisher(config)
    with TestClient(app) as client:
        h = tenant.headers("ingest")
        item = {"event_name": "booked", "customer": "nobody", "idempotency_key": "n1"}
        assert client.post("/v1/signals", json=item, headers=h).status_code == 202
        org = tenant.org_id
        good = {"Margin-Op": "events", "Margin-Org": org, "Margin-Received": "1"}
        _publish(config, {"Margin-Op": "nothing", "Margin-Org": org}, b"[]")
        _publish(config, good, b"not json")
        writer = WriterThread(Writer(config, strict, db)).start()
        try:
            wait_for(lambda: lag(client)["dead_letters"] == 3, 20, "three dead letters")
            wait_for(lambda: lag(client)["messages"] == 0, 5, "an empty queue")
        finally:
            writer.close()
        listed = client.get("/v1/queue/dead-letters", headers=tenant.headers("read"))
        assert listed.status_code == 200
        letters = listed.json()["items"]
    reasons = sorted((d["op"], d["reason"]) for d in letters)
    assert reasons == [
        (
            "events",
            "EnvelopeError: body is not JSON: invalid literal, expected 'null': line 1 column 1 (char 0)",
        ),
        ("nothing", "unreadable message: unknown operation 'nothing'"),
        ("signals", "failed: customer: no customer with external id 'nobody'"),
    ]
    assert count(db, signals) == 0


def _kv(values: dict[str, Any]) -> list[KeyValue]:
    return [
        KeyValue(
            key=k,
            value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=str(v)),
        )
        for k, v in values.items()
    ]


def test_an_otlp_export_is_published_and_written(
    client: TestClient, db: Database, tenant: Tenant, settings: Settings, config: QueueConfig
) -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "margin.customer.external_id": "acme",
    }
    t0 = 1_780_000_000_000_000_000
    span = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="chat gpt-4o",
        start_time_unix_nano=t0,
        end_time_unix_nano=t0 + 500_000,
        attributes=_kv(attributes),
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    headers = {**tenant.headers("ingest"), "Content-Type": "application/x-protobuf"}
    for _ in range(2):  # the exporter retried: stored once
        answer = client.post("/v1/traces", content=request.SerializeToString(), headers=headers)
        assert answer.status_code == 200
    assert count(db, spans) == 0
    writer = WriterThread(Writer(config, settings, db)).start()
    try:
        wait_for(lambda: writer.writer.stats["messages"] == 2, 20, "the writer")
    finally:
        writer.close()
    assert (count(db, spans), count(db, costs)) == (1, 1)
    with db.read() as conn:
        [amount] = conn.execute(select(costs.c.amount_nanos)).scalars()
    # gpt-4o: 1200 input × $2.50/M + 300 output × $10/M.
    assert amount == 6_000_000
