"""Margin's SDK beside paid-python 1.12.0 (``paid_tracing`` + ``PaidOpenAI``), in one harness.

    .venv/bin/python bench/vs_paid.py [--runs 5] [--blocks 10] [--tight 5000] [--no-outage]

Each SDK runs in its own process (their global tracing state would collide), the two
processes taking turns run after run, against the same in-process OpenAI mock transport and
the same loopback collector (another process). Per run and SDK it measures:

- overhead per call: the mean over alternating blocks of 300 calls, in wall time and in
  process CPU time, delivery included (see ``_overhead``);
- a tight loop: ``--tight`` calls back to back, then a flush: spans delivered / produced;
- an outage: calls for 14 s at ``--rate`` calls per second while the collector refuses
  connections from the 2nd to the 12th second, then a flush (up to 120 s): spans delivered.

It prints each run and the medians over runs, and the ratio of the overheads."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _collector import Collector
from _overhead import machine_line

_CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}  # fmt: skip
_MESSAGES = [{"role": "user", "content": "hello"}]
_OUTAGE = (2.0, 12.0, 14.0)  # collector down from, up again at, calls end at (seconds)
SDKS = ("margin", "paid")


def _client() -> Any:
    import httpx2
    import openai

    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=_CHAT))
    return openai.OpenAI(api_key="sk-bench", http_client=httpx2.Client(transport=transport))


Calls = tuple[Callable[[], Any], Callable[[], Any], Callable[[], Any]]


def _margin(url: str, spool: str) -> Calls:
    import margin

    margin.configure("mk_bench", url, spool_dir=spool)
    plain, wrapped = _client(), _client()
    margin.instrument_openai(wrapped)

    def traced() -> None:
        with margin.trace("cus_bench", "agent_bench"):
            wrapped.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)

    def raw() -> None:
        plain.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)

    return raw, traced, lambda: margin.flush(timeout=120)


def _paid(url: str, spool: str) -> Calls:
    from paid.tracing import initialize_tracing, paid_tracing
    from paid.tracing import tracing as paid_state
    from paid.tracing.wrappers import PaidOpenAI

    initialize_tracing(api_key="pk_bench", collector_endpoint=f"{url}/v1/traces")
    plain = _client()
    wrapped = PaidOpenAI(_client())

    def traced() -> None:
        with paid_tracing("cus_bench", external_product_id="agent_bench"):
            wrapped.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)

    def raw() -> None:
        plain.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)

    return raw, traced, lambda: paid_state.paid_tracer_provider.force_flush(120_000)


def worker(sdk: str, phase: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in this process (``--worker``); both SDKs make 2 spans a call."""
    from _overhead import interleaved_blocks

    with tempfile.TemporaryDirectory() as spool:
        raw, traced, flush = (_margin if sdk == "margin" else _paid)(url, spool)
        for _ in range(200):
            raw()
            traced()
        flush()
        print("ready", flush=True)
        sys.stdin.readline()  # the collector's counts were reset: go
        if phase == "overhead":
            result = interleaved_blocks(raw, traced, flush, blocks=args.blocks)
            return {"wall": result.wall, "cpu": result.cpu, "base": result.base_wall}
        if phase == "tight":
            for _ in range(args.tight):
                traced()
            flush()
            return {"spans": 2 * args.tight}
        start, calls, pause = time.monotonic(), 0, 1.0 / args.rate
        while (elapsed := time.monotonic() - start) < _OUTAGE[2]:
            traced()
            calls += 1
            time.sleep(max(0.0, start + calls * pause - time.monotonic()))
        flush()
        return {"spans": 2 * calls, "seconds": elapsed}


def _run(sdk: str, phase: str, collector: Collector, argv: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", sdk, "--phase", phase, "--url", collector.url]
    process = subprocess.Popen([*command, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    collector.reset()
    process.stdin.write(b"go\n")
    process.stdin.flush()
    if phase == "outage":
        time.sleep(_OUTAGE[0])
        collector.stop_listening()
        time.sleep(_OUTAGE[1] - _OUTAGE[0])
        collector.listen()
    out, _ = process.communicate(timeout=600)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    if "spans" in result:
        _received, result["delivered"] = collector.counts()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=10, help="pairs of 300-call blocks")
    parser.add_argument("--tight", type=int, default=5000, help="calls in the tight loop")
    parser.add_argument("--rate", type=float, default=500, help="calls/s during the outage")
    parser.add_argument("--no-outage", action="store_true")
    parser.add_argument("--worker", choices=SDKS)
    parser.add_argument("--phase", choices=("overhead", "tight", "outage"))
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.phase, args.url, args)), flush=True)
        return
    argv = [f"--blocks={args.blocks}", f"--tight={args.tight}", f"--rate={args.rate}"]
    phases = ["overhead", "tight"] + ([] if args.no_outage else ["outage"])
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    print(machine_line(), flush=True)
    collector = Collector()
    try:
        for run in range(args.runs):
            for phase in phases:
                for sdk in SDKS if run % 2 == 0 else reversed(SDKS):
                    result = _run(sdk, phase, collector, argv)
                    results.setdefault((sdk, phase), []).append(result)
                    print(f"run {run + 1} {sdk:6} {phase:8} {json.dumps(result)}", flush=True)
    finally:
        collector.close()
    _summary(results, args.runs)


def _summary(results: dict[tuple[str, str], list[dict[str, Any]]], runs: int) -> None:
    def median(sdk: str, phase: str, key: str) -> float:
        return statistics.median(r[key] for r in results[(sdk, phase)])

    print(f"\nmedians of {runs} runs (µs per call; spans delivered / produced)")
    for sdk in SDKS:
        line = (
            f"{sdk:6}  wall {median(sdk, 'overhead', 'wall'):+8.1f}  "
            f"CPU {median(sdk, 'overhead', 'cpu'):+8.1f}"
        )
        for phase in ("tight", "outage"):
            if (sdk, phase) in results:
                done = sum(r["delivered"] for r in results[(sdk, phase)])
                made = sum(r["spans"] for r in results[(sdk, phase)])
                line += f"  {phase} {done}/{made} ({100 * done / made:.1f}%)"
        print(line)
    ratios = [
        m["wall"] / p["wall"]
        for m, p in zip(results[("margin", "overhead")], results[("paid", "overhead")], strict=True)
        if p["wall"] > 0
    ]
    cpu_ratios = [
        m["cpu"] / p["cpu"]
        for m, p in zip(results[("margin", "overhead")], results[("paid", "overhead")], strict=True)
        if p["cpu"] > 0
    ]
    print(
        f"Margin's overhead / paid-python's, same runs (median): wall "
        f"{statistics.median(ratios):.3f}, CPU {statistics.median(cpu_ratios):.3f} "
        f"(target <= 0.1)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
