"""GenAI spans per second through ``POST /v1/traces`` (protobuf, 1,000 spans a request:
decoded, converted, priced from the catalog and stored with spans, costs and rollups), beside
the raw ``executemany`` insert rate of the same cost rows, measured in the same run.

Runs on SQLite (a temp file) and on PostgreSQL when one answers (``MARGIN_BENCH_POSTGRES_URL``,
default the local server; a scratch database is created and dropped). In-process ASGI client,
one request at a time. Each store is measured in several rounds, each on a new store; the
medians of the rounds are printed last.

Then the same export bodies go to a real server, started as in production:
``margin serve --workers W`` in a subprocess on a free local port, with a new data dir (SQLite,
``margin.db``) or a new scratch PostgreSQL database (``MARGIN_DATABASE_URL``) each round. An
ingest key is made with ``margin keys create --scope ingest``. The bench process is the client:
C threads, each with its own keep-alive ``httpx`` connection, send pre-built bodies (one
warm-up request first, not timed); the rate is the spans acknowledged over the wall time from
the first send to the last acknowledgement. Every response must be an empty 200, and the store
must then hold exactly one cost row and one span row per span sent. Per-round lines, then the
medians, are printed after the in-process ones.

Run: ``.venv/bin/python bench/otlp_ingest.py [--requests N] [--spans S] [--rounds R]
[--prefill P] [--workers W] [--clients C] [--server-requests M]``: ``--prefill`` stores P
exports of the same organization before the timed in-process ones (a store that is not new:
its random-order indexes no longer fit in a few pages), ``--workers`` defaults to the number
of CPUs, ``--clients`` to twice the workers, ``--server-requests`` (timed requests a round,
over all clients) to 4 × ``--requests``. On SQLite under Linux the in-process lines also give
the bytes the process wrote to storage (WAL and checkpoints) per 1,000 spans.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from _server import free_port
from margin._ids import new_id
from margin._time import now_micros
from margin.server.app import create_app, prepare_process
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import create_key, create_org
from margin.store.schema import costs
from margin.store.schema import spans as spans_table

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


def _written() -> int | None:
    """Bytes this process has caused to be written to storage (Linux), SQLite's WAL and
    checkpoints included; None where the kernel does not say."""
    try:
        with open("/proc/self/io") as io:
            fields = dict(line.split(": ") for line in io.read().splitlines())
        return int(fields["write_bytes"])
    except (OSError, KeyError, ValueError):
        return None


def run(db: Database, label: str, requests: int, n: int, prefill: int = 0) -> tuple[float, float]:
    """One round on an empty store (or one already holding ``prefill`` exports of the same
    organization, sent first and not timed): the median rate of ``requests`` exports, and the
    median raw insert rate of the same cost rows."""
    with db.write() as conn:
        org = create_org(conn, "bench")
        _key, secret = create_key(conn, org, "ingest")
    app = create_app(Settings(), db=db, migrate=False)
    prepare_process()  # as ``margin serve`` does in each worker
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-protobuf"}
    bodies = [build_request(n, seq) for seq in range(requests + 1)]
    ingest: list[float] = []
    raw: list[float] = []
    with TestClient(app) as client:
        for seq in range(prefill):
            body = build_request(n, 1_000_000 + seq)
            assert client.post("/v1/traces", content=body, headers=headers).status_code == 200
        mark = now_micros()
        client.post("/v1/traces", content=bodies[0], headers=headers)  # warm caches
        written, first = 0, _written()
        for body in bodies[1:]:
            started = time.perf_counter()
            response = client.post("/v1/traces", content=body, headers=headers)
            ingest.append(n / (time.perf_counter() - started))
            assert response.status_code == 200, response.text
            assert response.content == b"", "some spans were rejected"
        if db.checkpointer is not None:
            db.checkpointer.wait(300)  # the checkpoints of these writes count too
        last = _written()
        if first is not None and last is not None:
            written = last - first
    with db.read() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(costs).where(costs.c.org_id == org, costs.c.created_at >= mark)
            )
        ]
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
    stored = f", {prefill * n:,} stored before" if prefill else ""
    io = (
        f", {written / (requests * n) * 1000 / 2**20:.1f} MB written a 1,000"
        if db.is_sqlite and written
        else ""
    )
    print(
        f"{label:10} POST /v1/traces: {got:>9,.0f} spans/s   raw executemany: {base:>9,.0f} "
        f"rows/s   ratio {got / base:.2f}   ({requests} × {n} spans, {priced} catalog-priced"
        f"{stored}{io})"
    )
    return got, base


def summary(label: str, rounds: list[tuple[float, float]]) -> None:
    got = statistics.median(r[0] for r in rounds)
    ratio = statistics.median(r[0] / r[1] for r in rounds)
    print(f"{label:10} median of {len(rounds)} rounds: {got:>9,.0f} spans/s   ratio {ratio:.2f}")


@contextmanager
def scratch_postgres() -> Iterator[str | None]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards; None when no server
    answers."""
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
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres() -> Iterator[Database | None]:
    with scratch_postgres() as pg_url:
        if pg_url is None:
            yield None
            return
        db = Database(pg_url)
        try:
            db.upgrade()
            yield db
        finally:
            db.dispose()


MARGIN = str(Path(sys.executable).with_name("margin"))


@dataclass(frozen=True)
class Server:
    """A running ``margin serve``."""

    base_url: str
    env: dict[str, str]
    data_dir: str


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn's graceful stop, workers included), then SIGKILL to the whole group
    if anything of it is still there."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"server {process.pid}: no exit 30 s after SIGINT, killed")
    with suppress(ProcessLookupError):  # leftover workers: the group outlives its leader
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def serve(data_dir: str, database_url: str | None, workers: int) -> Iterator[Server]:
    """``margin serve --workers W`` on a free port until the block ends; its output goes to
    files in the data dir, and any stderr is shown after it stops."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("MARGIN_DATABASE_URL", "MARGIN_DATA_DIR")
    }
    if database_url:
        env["MARGIN_DATABASE_URL"] = database_url
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    out_path, err_path = Path(data_dir, "serve.out"), Path(data_dir, "serve.err")
    command = [MARGIN, "serve", "--workers", str(workers), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", data_dir]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"margin serve exited with {process.returncode}:\n"
                    f"{out_path.read_text()}{err_path.read_text()}"
                )
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"margin serve did not answer on {base_url} in 120 s")
            time.sleep(0.1)
        assert "Dashboard:" in out_path.read_text(), out_path.read_text()
        yield Server(base_url=base_url, env=env, data_dir=data_dir)
    finally:
        _stop(process)
        errors = err_path.read_text().strip()
        if errors:
            print(f"server stderr (pid {process.pid}):\n{errors[-4000:]}")


def ingest_key(server: Server) -> str:
    """A new ingest key, made the way an operator would: ``margin keys create``."""
    result = subprocess.run(
        [MARGIN, "keys", "create", "--scope", "ingest", "--data-dir", server.data_dir],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1].strip()


def _send(
    base_url: str,
    headers: dict[str, str],
    work: queue.SimpleQueue[bytes],
    start: threading.Barrier,
    failures: list[str],
) -> None:
    """One client: one keep-alive connection, opened before the start, then bodies off the
    shared queue until it is empty."""
    try:
        with httpx.Client(base_url=base_url, timeout=300) as client:
            client.get("/healthz").raise_for_status()
            start.wait()
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                response = client.post("/v1/traces", content=body, headers=headers)
                if response.status_code != 200 or response.content != b"":
                    failures.append(f"{response.status_code}: {response.text[:500]}")
    except Exception as exc:  # reported by the caller; a dead thread must not hang the barrier
        failures.append(repr(exc))
        start.abort()


def run_server(
    label: str, database_url: str | None, workers: int, clients: int, requests: int, n: int
) -> float:
    """One round on a new store and a new server: spans acknowledged per second of wall time,
    ``clients`` connections at once; then the store is checked to hold every span once."""
    bodies = [build_request(n, seq) for seq in range(requests + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        with serve(tmp, database_url, workers) as server:
            secret = ingest_key(server)
            headers = {
                "Authorization": f"Bearer {secret}",
                "Content-Type": "application/x-protobuf",
            }
            warm = httpx.post(
                f"{server.base_url}/v1/traces", content=bodies[0], headers=headers, timeout=300
            )
            assert warm.status_code == 200, warm.text
            assert warm.content == b"", "some spans were rejected"
            work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
            for body in bodies[1:]:
                work.put(body)
            failures: list[str] = []
            start = threading.Barrier(clients + 1)
            threads = [
                threading.Thread(
                    target=_send, args=(server.base_url, headers, work, start, failures)
                )
                for _ in range(clients)
            ]
            for thread in threads:
                thread.start()
            with suppress(threading.BrokenBarrierError):  # a client failed: reported below
                start.wait()
            started = time.perf_counter()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            assert not failures, failures[:5]
            assert work.empty(), "some bodies were not sent"
        db = Database(database_url or f"sqlite:///{tmp}/margin.db")
        try:
            with db.read() as conn:
                cost_rows = conn.execute(select(func.count()).select_from(costs)).scalar_one()
                span_rows = conn.execute(select(func.count()).select_from(spans_table)).scalar_one()
        finally:
            db.dispose()
    expected = (requests + 1) * n
    assert cost_rows == expected, f"{cost_rows} cost rows, expected {expected}"
    assert span_rows == expected, f"{span_rows} span rows, expected {expected}"
    rate = requests * n / elapsed
    print(
        f"{label:10} server --workers {workers}, {clients} clients: {rate:>9,.0f} spans/s   "
        f"({requests} × {n} spans in {elapsed:.2f} s; {cost_rows:,} costs and {span_rows:,} "
        "spans stored, as sent)"
    )
    return rate


def server_summary(label: str, workers: int, clients: int, rates: list[float]) -> None:
    print(
        f"{label:10} server --workers {workers}, {clients} clients, median of {len(rates)} "
        f"rounds: {statistics.median(rates):>9,.0f} spans/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on a new store")
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        help="in-process: exports stored (untimed) before the timed ones, so the store is not new",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="margin serve --workers"
    )
    parser.add_argument("--clients", type=int, help="concurrent connections (2 × workers)")
    parser.add_argument(
        "--server-requests", type=int, help="timed requests a round to the server (4 × requests)"
    )
    args = parser.parse_args()
    clients = args.clients or 2 * args.workers
    server_requests = args.server_requests or 4 * args.requests
    lite = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/bench.db")
            db.upgrade()
            lite.append(run(db, "sqlite", args.requests, args.spans, args.prefill))
            db.dispose()
    pg = []
    for _ in range(args.rounds):
        with postgres() as store:
            if store is None:
                print("postgresql: not reachable, skipped")
                break
            pg.append(run(store, "postgresql", args.requests, args.spans, args.prefill))
    summary("sqlite", lite)
    if pg:
        summary("postgresql", pg)
    served: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    for _ in range(args.rounds):
        served["sqlite"].append(
            run_server("sqlite", None, args.workers, clients, server_requests, args.spans)
        )
    for _ in range(args.rounds):
        with scratch_postgres() as pg_url:
            if pg_url is None:
                print("postgresql: not reachable, skipped")
                break
            served["postgresql"].append(
                run_server("postgresql", pg_url, args.workers, clients, server_requests, args.spans)
            )
    for label, rates in served.items():
        if rates:
            server_summary(label, args.workers, clients, rates)


if __name__ == "__main__":
    main()
