"""SDK overhead: per-call cost of ``margin.trace`` around a GenAI call, against the same call
without Margin, with delivery running to a loopback OTLP collector in the same run.

    .venv/bin/python bench/sdk_overhead.py [--calls 5000]

Prints the median per-call time of each, the overhead in µs and the ratio, and how many spans
were produced and delivered (each span id counted once). Mode ``openai`` is the measure:
real ``openai`` chat calls over an in-memory transport, wrapped by ``instrument_openai``.
Mode ``warm`` runs the same wrapper around a stub returning a prebuilt response (Margin's
own code with warm CPU caches); mode ``manual`` makes the GenAI span with another
OpenTelemetry instrumentation's tracer (what Margin adds to spans it does not make)."""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider

import margin

_CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}  # fmt: skip


def _serve_collector(ports: multiprocessing.Queue[int]) -> None:
    span_ids: set[bytes] = set()
    received = 0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn serves Margin

        def do_POST(self) -> None:
            nonlocal received
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest.FromString(gzip.decompress(body))
            with lock:
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        received += len(ss.spans)
                        span_ids.update(s.span_id for s in ss.spans)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            body = json.dumps({"received": received, "unique": len(span_ids)}).encode()
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ports.put(server.server_address[1])
    server.serve_forever()


class Collector:
    """An OTLP collector in its own process (as a real server is: its decoding does not
    compete with the measured process for the GIL); counts span ids on ``/v1/traces``."""

    def __init__(self) -> None:
        ports: multiprocessing.Queue[int] = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_serve_collector, args=(ports,), daemon=True)
        self.process.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=30)}"

    def counts(self) -> tuple[int, int]:
        """(spans received, distinct span ids)."""
        with urllib.request.urlopen(self.url + "/stats", timeout=30) as response:
            stats = json.loads(response.read())
        return stats["received"], stats["unique"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.join()


def _measure(fns: list[Callable[[], Any]], calls: int) -> list[tuple[float, float]]:
    """(median ns, mean ns) per function, the functions called in turn in one loop so that a
    change in machine load during the run affects each the same."""
    samples: list[list[int]] = [[] for _ in fns]
    clock = time.perf_counter_ns
    for _ in range(calls):
        for fn, out in zip(fns, samples, strict=True):
            start = clock()
            fn()
            out.append(clock() - start)
    return [(statistics.median(out), statistics.fmean(out)) for out in samples]


Mode = tuple[Callable[[], Any], Callable[[], Any], int, Callable[[], Any] | None]


def _genai_call(tracer: trace_api.Tracer, model_call: Callable[[], Any]) -> None:
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        result = model_call()
        span.set_attributes({
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3,
        })  # fmt: skip
        _ = result


def manual_mode() -> Mode:
    tracer = trace_api.get_tracer("bench")
    # The same two spans on a bare OpenTelemetry provider (no processor): what plain OTel
    # costs, so Margin's own share of the overhead can be read off.
    bare = TracerProvider().get_tracer("bench")

    def model_call() -> dict[str, Any]:
        return dict(_CHAT)

    def traced() -> None:
        with margin.trace("cus_bench", "agent_bench"):
            _genai_call(tracer, model_call)

    def plain_otel() -> None:
        with bare.start_as_current_span("margin.trace"):
            _genai_call(bare, model_call)

    return model_call, traced, 2, plain_otel


def openai_mode() -> Mode:
    import httpx2
    import openai

    from margin.sdk.instrument import instrument_openai  # type: ignore[attr-defined]

    def client() -> Any:
        transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=_CHAT))
        return openai.OpenAI(api_key="sk-bench", http_client=httpx2.Client(transport=transport))

    plain, wrapped = client(), client()
    instrument_openai(wrapped)
    messages = [{"role": "user", "content": "hello"}]

    def call() -> None:
        plain.chat.completions.create(model="gpt-4o-mini", messages=messages)

    def traced() -> None:
        with margin.trace("cus_bench", "agent_bench"):
            wrapped.chat.completions.create(model="gpt-4o-mini", messages=messages)

    return call, traced, 2, None


def warm_mode() -> Mode:
    """Margin's own work per call, warm: the OpenAI wrapper around a stub that returns a
    prebuilt ``ChatCompletion`` (no HTTP, no parsing), inside ``margin.trace``. In a real call
    the same code runs with colder CPU caches, after the client's own work, and costs more."""
    from openai.types.chat import ChatCompletion

    from margin.sdk.wrappers._patch import wrap_sync
    from margin.sdk.wrappers.openai import _Chat

    response = ChatCompletion.model_validate(_CHAT)
    messages = [{"role": "user", "content": "hello"}]

    def create(**kwargs: Any) -> ChatCompletion:
        return response

    wrapped = wrap_sync(create, _Chat())

    def call() -> None:
        create(model="gpt-4o-mini", messages=messages)

    def traced() -> None:
        with margin.trace("cus_bench", "agent_bench"):
            wrapped(model="gpt-4o-mini", messages=messages)

    return call, traced, 2, None


def run(name: str, mode: Callable[[], Mode], calls: int) -> None:
    collector = Collector()
    with tempfile.TemporaryDirectory() as spool:
        margin.configure("mk_bench", collector.url, spool_dir=spool)
        baseline, traced, spans_per_call, reference = mode()
        for fn in (baseline, traced, reference):  # warm up every path
            for _ in range(200 if fn else 0):
                fn()  # type: ignore[misc]
        before = margin.delivery_stats()["enqueued"]
        fns = [baseline, traced] + ([reference] if reference else [])
        measured = _measure(fns, calls)
        (base_ns, base_mean), (traced_ns, traced_mean) = measured[:2]
        reference_ns = measured[2][0] if reference else None
        produced = margin.delivery_stats()["enqueued"] - before
        delivered_ok = margin.flush(timeout=60)
        stats = margin.delivery_stats()
        margin.shutdown()
    received, delivered = collector.counts()
    collector.stop()
    overhead = (traced_ns - base_ns) / 1000
    print(f"[{name}] calls={calls} baseline median={base_ns / 1000:.1f} µs "
          f"with margin={traced_ns / 1000:.1f} µs overhead={overhead:.1f} µs "
          f"ratio={traced_ns / base_ns:.2f}x")  # fmt: skip
    # Means include the delivery thread's encoding and sending, which shares the GIL.
    print(f"[{name}] means: baseline={base_mean / 1000:.1f} µs with margin={traced_mean / 1000:.1f} µs "
          f"overhead={(traced_mean - base_mean) / 1000:.1f} µs")  # fmt: skip
    if reference_ns is not None:
        print(f"[{name}] same spans on bare OpenTelemetry={reference_ns / 1000:.1f} µs; "
              f"Margin's own share={(traced_ns - reference_ns) / 1000:.1f} µs")  # fmt: skip
    print(f"[{name}] spans produced in loop={produced} (expected {calls * spans_per_call}); "
          f"total enqueued={stats['enqueued']} delivered={delivered} "
          f"({100 * delivered / max(1, stats['enqueued']):.1f}%) received={received} "
          f"dropped={stats['dropped']} spooled={stats['spooled']} flushed={delivered_ok}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--mode", choices=["manual", "warm", "openai", "all"], default="all")
    args = parser.parse_args()
    if args.mode in ("manual", "all"):
        run("manual", manual_mode, args.calls)
    if args.mode in ("warm", "all"):
        run("warm", warm_mode, args.calls)
    if args.mode in ("openai", "all"):
        try:
            import margin.sdk.instrument  # noqa: F401
        except ImportError as exc:
            print(f"[openai] skipped: {exc}")
            return
        run("openai", openai_mode, args.calls)


if __name__ == "__main__":
    main()
