"""GenAI spans per second through ``POST /v1/traces`` (protobuf, 1,000 spans a request:
decoded, converted, priced from the catalog and stored with spans, costs and rollups), beside
the raw ``executemany`` insert rate of the same cost rows, measured in the same run.

Runs on SQLite (a temp file) and on PostgreSQL when one answers (``MARGIN_BENCH_POSTGRES_URL``,
default the local server; a scratch database is created and dropped). In-process ASGI client.
Each store is measured in several rounds, each on a new store; the medians of the rounds
are printed last. Run: ``.venv/bin/python bench/otlp_ingest.py [--requests N] [--spans S]
[--rounds R]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from margin._ids import new_id
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import create_key, create_org
from margin.store.schema import costs

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")]


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def build_request(n: int, seq: int) -> bytes:
    """``n`` GenAI spans with semconv usage, 10 spans per trace, 50 customers."""
    now = time.time_ns()
    spans = []
    trace_id = os.urandom(16)
    for i in range(n):
        provider, model = MODELS[i % len(MODELS)]
        if i % 10 == 0:
            trace_id = os.urandom(16)
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.response.id": f"resp-{seq}-{i}",
            "gen_ai.usage.input_tokens": 1000 + i,
            "gen_ai.usage.output_tokens": 200 + i % 50,
            "gen_ai.usage.cache_read.input_tokens": 500,
            "margin.customer.external_id": f"cus-{i % 50}",
            "margin.agent.external_id": "sdr",
            "margin.instrumentation": "margin",
        }
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=os.urandom(8),
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=now - 1_000_000,
                end_time_unix_nano=now,
                attributes=[_kv(k, v) for k, v in attributes.items()],
            )
        )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def run(db: Database, label: str, requests: int, n: int) -> tuple[float, float]:
    """One round on an empty store: the median rate of ``requests`` exports, and the median
    raw insert rate of the same cost rows."""
    with db.write() as conn:
        org = create_org(conn, "bench")
        _key, secret = create_key(conn, org, "ingest")
    app = create_app(Settings(), db=db, migrate=False)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-protobuf"}
    bodies = [build_request(n, seq) for seq in range(requests + 1)]
    ingest: list[float] = []
    raw: list[float] = []
    with TestClient(app) as client:
        client.post("/v1/traces", content=bodies[0], headers=headers)  # warm caches
        for body in bodies[1:]:
            started = time.perf_counter()
            response = client.post("/v1/traces", content=body, headers=headers)
            ingest.append(n / (time.perf_counter() - started))
            assert response.status_code == 200, response.text
            assert response.content == b"", "some spans were rejected"
    with db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(costs).where(costs.c.org_id == org))]
    priced = sum(1 for r in rows if r["priced_by"] == "catalog")
    assert len(rows) == (requests + 1) * n, len(rows)
    for start in range(n, len(rows), n):
        batch = [
            {**r, "id": new_id("cst"), "idempotency_key": f"raw:{r['idempotency_key']}"}
            for r in rows[start : start + n]
        ]
        started = time.perf_counter()
        with db.write() as conn:
            conn.execute(insert(costs), batch)
        raw.append(len(batch) / (time.perf_counter() - started))
    got, base = statistics.median(ingest), statistics.median(raw)
    print(
        f"{label:10} POST /v1/traces: {got:>9,.0f} spans/s   raw executemany: {base:>9,.0f} "
        f"rows/s   ratio {got / base:.2f}   ({requests} × {n} spans, {priced} catalog-priced)"
    )
    return got, base


def summary(label: str, rounds: list[tuple[float, float]]) -> None:
    got = statistics.median(r[0] for r in rounds)
    ratio = statistics.median(r[0] / r[1] for r in rounds)
    print(f"{label:10} median of {len(rounds)} rounds: {got:>9,.0f} spans/s   ratio {ratio:.2f}")


@contextmanager
def postgres() -> Iterator[Database | None]:
    admin = os.environ.get(
        "MARGIN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = make_url(admin)
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5432), 1.0).close()
        import psycopg
    except (OSError, ImportError):
        yield None
        return
    name = f"margin_bench_{uuid.uuid4().hex[:8]}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(url.set(database=name).render_as_string(hide_password=False))
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on a new store")
    args = parser.parse_args()
    lite = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/bench.db")
            db.upgrade()
            lite.append(run(db, "sqlite", args.requests, args.spans))
            db.dispose()
    pg = []
    for _ in range(args.rounds):
        with postgres() as store:
            if store is None:
                print("postgresql: not reachable, skipped")
                break
            pg.append(run(store, "postgresql", args.requests, args.spans))
    summary("sqlite", lite)
    if pg:
        summary("postgresql", pg)


if __name__ == "__main__":
    main()
