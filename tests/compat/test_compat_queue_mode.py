"""The compatibility routes in queue mode, against a real JetStream: an item the queue has is
answered as accepted (never as refused, never as stored), a writer stores it, and a batch's
answer counts what it accepted. On both stores."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from margin.queue.config import QueueConfig
from margin.queue.writer import Writer
from margin.settings import Settings
from margin.store.db import Database
from margin.store.schema import costs, events, signals
from margin_testing import Tenant

PAID = "/compat/paid/api/v2"
PAYGENTIC = "/compat/paygentic/v0"


def _nats_support() -> ModuleType:
    """The queue tests' JetStream helpers (``tests/queue`` is not a package: ``queue`` is
    the standard library's name)."""
    if "nats_support" in sys.modules:
        return sys.modules["nats_support"]
    path = Path(__file__).parents[1] / "queue" / "nats_support.py"
    spec = importlib.util.spec_from_file_location("nats_support", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nats_support"] = module
    spec.loader.exec_module(module)
    return module


support = _nats_support()


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with support.nats_server(tmp_path_factory.mktemp("nats")) as node:
        yield node.url
    support.close_stray_streams()


@pytest.fixture(autouse=True)
def _no_stray_streams() -> Iterator[None]:
    yield
    support.close_stray_streams()


@pytest.fixture
def config(nats_url: str) -> QueueConfig:
    config: QueueConfig = support.queue_config(nats_url, f"c{os.urandom(4).hex()}")
    return config


@pytest.fixture
def client(db: Database, settings: Settings, config: QueueConfig) -> Iterator[TestClient]:
    with support.queue_client(db, settings, config) as test_client:
        yield test_client


def _drain(config: QueueConfig, settings: Settings, db: Database, messages: int) -> None:
    """Run a writer until it has handled ``messages`` messages."""
    writer = support.WriterThread(Writer(config, settings, db)).start()
    try:
        support.wait_for(lambda: writer.writer.stats["messages"] == messages, 20, "the writer")
    finally:
        writer.close()


def _rows(db: Database, table: Any, *columns: Any) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        rows = conn.execute(select(*columns).order_by(*columns))
        return [tuple(row) for row in rows]


def test_a_paygentic_event_is_accepted_then_stored(
    client: TestClient, db: Database, tenant: Tenant, settings: Settings, config: QueueConfig
) -> None:
    body = {"type": "api_call", "source": "s", "data": {"tokens": 5}, "externalSubject": "ext1"}
    response = client.post(f"{PAYGENTIC}/events", json=body, headers=tenant.headers("ingest"))
    assert response.status_code == 202, response.text
    assert response.json() == {
        "id": None,
        "object": "event",
        "type": "api_call",
        "source": "s",
        "subject": "ext1",
        "idempotencyKey": None,
        "status": "accepted",
    }
    assert _rows(db, events, events.c.type) == []
    _drain(config, settings, db, 1)
    assert _rows(db, events, events.c.type, events.c.data) == [("api_call", {"tokens": 5})]


def test_a_mixed_paid_batch_stores_its_valid_items_and_says_so(
    client: TestClient, db: Database, tenant: Tenant, settings: Settings, config: QueueConfig
) -> None:
    h = tenant.headers("ingest")
    customer = {"externalCustomerId": "acme"}
    sent = [
        {"eventName": "won", "customer": customer, "idempotencyKey": "m1"},
        {"eventName": "", "customer": customer, "idempotencyKey": "m2"},
    ]
    response = client.post(f"{PAID}/signals/bulk", json={"signals": sent}, headers=h)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["ingested"], body["duplicates"], body["failed"]) == (
        1,
        0,
        0,
        1,
    )
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "eventName")]
    records = [
        {"type": "cost", "customer": customer, "amount": "0.25", "currency": "USD"},
        {"type": "cost", "customer": customer, "amount": "0.5", "currency": "usd!"},
    ]
    response = client.post(f"{PAID}/costs/bulk", json={"costs": records}, headers=h)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["ingested"], body["failed"]) == (1, 0, 1)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "currency")]
    valid = [sent[0], {**sent[0], "idempotencyKey": "m3"}]
    response = client.post(f"{PAID}/signals/bulk", json={"signals": valid}, headers=h)
    assert response.json() == {
        "accepted": 2,
        "ingested": 0,
        "duplicates": 0,
        "failed": 0,
        "errors": [],
    }
    _drain(config, settings, db, 3)
    keys = _rows(db, signals, signals.c.idempotency_key)
    assert keys == [("m1",), ("m3",)]  # m1 sent twice, stored once; m2 never
    assert _rows(db, costs, costs.c.amount_nanos) == [(250_000_000,)]


def test_a_paid_batch_of_nothing_valid_is_refused_whole(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    sent = [{"eventName": "", "customer": {"externalCustomerId": "acme"}}]
    response = client.post(
        f"{PAID}/signals/bulk", json={"signals": sent}, headers=tenant.headers("ingest")
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "0.eventName"


def test_paygent_revenue_is_accepted_not_claimed_stored(
    client: TestClient, db: Database, tenant: Tenant, settings: Settings, config: QueueConfig
) -> None:
    body = {"agentId": "a1", "customerId": "c1", "indicator": "won"}
    headers = {"paygent-api-key": tenant.keys["ingest"]}
    response = client.post("/api/v2/revenue", json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "ids": []}
    _drain(config, settings, db, 1)
    assert _rows(db, signals, signals.c.event_name) == [("won",)]
