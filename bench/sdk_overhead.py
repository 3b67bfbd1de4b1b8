"""SDK overhead: the cost of ``margin.trace`` around a GenAI call, against the same call
without Margin, with delivery running to a loopback OTLP collector (another process).

    .venv/bin/python bench/sdk_overhead.py [--mode openai] [--blocks 20] [--calls 3000]
        [--steady 3000] [--runs 3] [--repeat 5]

For each mode it prints (1) the mean overhead per call over alternating blocks of 300 calls,
in wall time and in process CPU time (all threads, delivery included: see ``_overhead``),
split into the calling thread's and the delivery thread's CPU, (2) the median of single
calls, which leaves background work out, and (3) how many spans were produced and how many
distinct ones the collector received. Mode ``openai`` is the
measure: real ``openai`` chat calls over an in-memory transport, wrapped by
``instrument_openai``. Mode ``warm`` runs the same wrapper around a stub returning a
prebuilt response (Margin's own code with warm CPU caches); mode ``manual`` makes the GenAI
span with another OpenTelemetry instrumentation's tracer (what Margin adds to spans it does
not make); mode ``network`` is ``openai`` with a wait of 1 ms in each call, the GIL free
meanwhile, so that delivery runs beside the caller. Each mode also prints (4) the overhead of
calls made back to back (``steady_runs``) and the requests sent while they ran.

``--repeat N`` runs all that in N fresh processes, one after the other, and then prints the
median of each figure over them, with its range."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider

import margin
from _collector import Collector
from _overhead import interleaved_blocks, machine_line, median_single_calls, steady_runs
from _repeat import repeat_if_asked
from margin.sdk import runtime

_CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}  # fmt: skip


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


def openai_mode(network: float = 0.0) -> Mode:
    import httpx2
    import openai

    from margin.sdk.instrument import instrument_openai  # type: ignore[attr-defined]

    def answer(request: httpx2.Request) -> httpx2.Response:
        if network:
            time.sleep(network)
        return httpx2.Response(200, json=_CHAT)

    def client() -> Any:
        transport = httpx2.MockTransport(answer)
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


def network_mode() -> Mode:
    """Mode ``openai`` with a millisecond's wait in each call, the GIL free meanwhile, as
    while a real call waits on its network: delivery then runs beside the caller."""
    return openai_mode(network=0.001)


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


def delivery_clock() -> Callable[[], float] | None:
    """The CPU clock (seconds) of the configured SDK's delivery thread, if it can be read."""
    active = runtime.current_runtime()
    thread = getattr(getattr(active, "delivery", None), "_thread", None)
    if thread is None or thread.ident is None:
        return None
    clock = time.pthread_getcpuclockid(thread.ident)
    return lambda: time.clock_gettime(clock)


def run(
    name: str, mode: Callable[[], Mode], args: argparse.Namespace, collector: Collector
) -> None:
    collector.reset()
    with tempfile.TemporaryDirectory() as spool:
        margin.configure("mk_bench", collector.url, spool_dir=spool)
        baseline, traced, spans_per_call, reference = mode()
        for fn in (baseline, traced, reference):  # warm up every path
            for _ in range(200 if fn else 0):
                fn()  # type: ignore[misc]
        margin.flush(timeout=60)
        before = margin.delivery_stats()["enqueued"]
        blocks = interleaved_blocks(
            baseline,
            traced,
            lambda: margin.flush(timeout=60),
            blocks=args.blocks,
            delivery_clock=delivery_clock(),
        )
        steady = steady_runs(
            baseline, traced, lambda: margin.flush(timeout=60), collector.requests,
            calls=args.steady, runs=args.runs,
        )  # fmt: skip
        fns = [baseline, traced] + ([reference] if reference else [])
        medians = median_single_calls(fns, args.calls)
        produced = margin.delivery_stats()["enqueued"] - before
        flushed = margin.flush(timeout=60)
        stats = margin.delivery_stats()
        margin.shutdown()
    received, delivered = collector.counts()
    print(blocks.line(name))
    if (threads := blocks.threads_line(name)) is not None:
        print(threads)
    base, with_margin = medians[:2]
    print(f"[{name}] median of single calls: baseline {base:.1f} µs, with Margin "
          f"{with_margin:.1f} µs, overhead {with_margin - base:+.1f} µs")  # fmt: skip
    if reference:
        print(f"[{name}] same spans on bare OpenTelemetry: {medians[2]:.1f} µs; "
              f"Margin's own share {with_margin - medians[2]:+.1f} µs")  # fmt: skip
    print(steady.line(name, args.steady, args.runs, args.steady * spans_per_call))
    expected = (args.blocks * 300 + args.calls + args.steady * args.runs) * spans_per_call
    print(f"[{name}] spans produced {produced} (expected {expected}), enqueued in all "
          f"{stats['enqueued']}, delivered {delivered} distinct "
          f"({100 * delivered / max(1, stats['enqueued']):.1f}%), received {received}, "
          f"dropped {stats['dropped']}, flushed {flushed}")  # fmt: skip


#: The figures ``--repeat`` takes the medians of, by name (see ``_repeat``).
_FIGURES = {
    "mean wall": r"mean over.*overhead wall ([-+0-9.]+) µs",
    "mean CPU": r"mean over.*CPU ([-+0-9.]+) µs per call",
    "caller's thread": r"caller ([-+0-9.]+) µs",
    "delivery thread": r"delivery thread ([-+0-9.]+) µs",
    "steady wall": r"steady.*overhead wall ([-+0-9.]+) µs",
    "steady CPU": r"steady.*CPU ([-+0-9.]+) µs per call",
    "delivered %": r"distinct \(([0-9.]+)%\)",
    "sum(range(1000)) µs": r"sum\(range\(1000\)\) ([0-9.]+) µs",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=20, help="pairs of 300-call blocks")
    parser.add_argument("--calls", type=int, default=3000, help="single calls for the median")
    parser.add_argument("--steady", type=int, default=3000, help="calls back to back, a run")
    parser.add_argument("--runs", type=int, default=3, help="runs of --steady calls")
    parser.add_argument(
        "--mode", choices=["manual", "warm", "openai", "network", "all"], default="all"
    )
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes, then medians")
    args = parser.parse_args()
    if repeat_if_asked(__file__, args.repeat, r"\[(\w+)\]", _FIGURES):
        return
    print(machine_line(), flush=True)
    collector = Collector()
    try:
        modes = (
            ("manual", manual_mode), ("warm", warm_mode), ("openai", openai_mode),
            ("network", network_mode),
        )  # fmt: skip
        for name, mode in modes:
            if args.mode in (name, "all"):
                run(name, mode, args, collector)
    finally:
        collector.close()


if __name__ == "__main__":
    main()
