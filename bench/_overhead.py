"""Cost per call as a user pays it, for the SDK benchmarks.

Blocks of calls without the SDK and with it alternate. Before each block without it, what
the SDK still has queued is delivered (``flush``): those blocks are the clean baseline, and
the process CPU time that delivery took (all threads: encoding and sending run in a
background thread that shares the caller's process) is added to the block with the SDK
before it. So the overhead per call is

    wall: (block with SDK + its flushing CPU − block without) / calls per block
    CPU:  (process CPU of the block with SDK + its flushing CPU − of the block without) / …

averaged over the blocks. The flushing CPU counts in wall time too: in a busy process the
delivery thread's CPU is time the caller's thread cannot run. Each block with the SDK starts
with a flush of nothing, as in a caller that flushes after each request."""

from __future__ import annotations

import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Overhead",
    "Steady",
    "interleaved_blocks",
    "machine_line",
    "median_single_calls",
    "steady_runs",
]


@dataclass(frozen=True)
class Overhead:
    """Per-call figures in µs (means over blocks) and the blocks' spread. ``caller`` is the
    CPU the calling thread spent more per call (its flushing included), ``delivery`` the
    delivery thread's CPU per call, when a clock of that thread was given."""

    base_wall: float
    wall: float
    cpu: float
    wall_blocks: list[float]
    cpu_blocks: list[float]
    caller: float | None = None
    delivery: float | None = None

    def line(self, name: str) -> str:
        spread = (min(self.wall_blocks), max(self.wall_blocks))
        return (
            f"[{name}] mean over {len(self.wall_blocks)} blocks: baseline {self.base_wall:.1f} µs; "
            f"overhead wall {self.wall:+.1f} µs, CPU {self.cpu:+.1f} µs per call "
            f"(blocks from {spread[0]:+.1f} to {spread[1]:+.1f} µs wall)"
        )

    def threads_line(self, name: str) -> str | None:
        if self.caller is None or self.delivery is None:
            return None
        return (
            f"[{name}] CPU per call by thread: caller {self.caller:+.1f} µs, "
            f"delivery thread {self.delivery:.1f} µs"
        )


def interleaved_blocks(
    raw: Callable[[], Any],
    traced: Callable[[], Any],
    flush: Callable[[], Any],
    *,
    blocks: int = 20,
    size: int = 300,
    delivery_clock: Callable[[], float] | None = None,
) -> Overhead:
    """``blocks`` pairs of ``size`` calls, without (``raw``) and with (``traced``) the SDK.
    ``delivery_clock`` (seconds of the SDK's delivery thread's CPU) splits the CPU by thread."""
    wall = time.perf_counter
    cpu = time.process_time
    own = time.thread_time
    other = delivery_clock or (lambda: 0.0)
    base: list[float] = []
    walls: list[float] = []
    cpus: list[float] = []
    callers: list[float] = []
    deliveries: list[float] = []
    flush()
    for _ in range(blocks):
        w0, c0, t0 = wall(), cpu(), own()
        for _ in range(size):
            raw()
        w1, c1, t1 = wall(), cpu(), own()
        # Nothing is queued: a caller that flushes after each request does this, and the
        # traced block must not pay for a delivery thread woken by it.
        flush()
        w2, c2, t2, d2 = wall(), cpu(), own(), other()
        for _ in range(size):
            traced()
        w3, c3 = wall(), cpu()
        flush()
        c4, t4, d4 = cpu(), own(), other()
        flushing = c4 - c3
        base.append((w1 - w0) / size * 1e6)
        walls.append(((w3 - w2) + flushing - (w1 - w0)) / size * 1e6)
        cpus.append(((c3 - c2) + flushing - (c1 - c0)) / size * 1e6)
        callers.append(((t4 - t2) - (t1 - t0)) / size * 1e6)
        deliveries.append((d4 - d2) / size * 1e6)
    split = delivery_clock is not None
    return Overhead(
        statistics.fmean(base),
        statistics.fmean(walls),
        statistics.fmean(cpus),
        walls,
        cpus,
        statistics.fmean(callers) if split else None,
        statistics.fmean(deliveries) if split else None,
    )


@dataclass(frozen=True)
class Steady:
    """Per-call figures in µs (medians over runs) of calls made back to back, and how many
    requests delivery sent while they ran (median)."""

    wall: float
    cpu: float
    requests: float

    def line(self, name: str, calls: int, runs: int, spans: int) -> str:
        return (
            f"[{name}] steady, {calls} calls back to back (median of {runs} runs): overhead "
            f"wall {self.wall:+.1f} µs, CPU {self.cpu:+.1f} µs per call; "
            f"{self.requests:.0f} requests sent while their {spans} spans were made"
        )


def steady_runs(
    raw: Callable[[], Any],
    traced: Callable[[], Any],
    flush: Callable[[], Any],
    requests: Callable[[], int],
    *,
    calls: int = 3000,
    runs: int = 3,
) -> Steady:
    """``runs`` pairs of ``calls`` calls without and with the SDK, with no flush between
    calls: delivery runs beside the caller as in a busy process, where blocks flushed one
    by one (``interleaved_blocks``) leave it nothing to do meanwhile. The flush after the
    calls with the SDK (what was still queued) counts in their time."""
    walls: list[float] = []
    cpus: list[float] = []
    sent: list[int] = []
    flush()
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(calls):
            raw()
        w1, c1, r1 = time.perf_counter(), time.process_time(), requests()
        for _ in range(calls):
            traced()
        r2 = requests()
        flush()
        w2, c2 = time.perf_counter(), time.process_time()
        walls.append(((w2 - w1) - (w1 - w0)) / calls * 1e6)
        cpus.append(((c2 - c1) - (c1 - c0)) / calls * 1e6)
        sent.append(r2 - r1)
    return Steady(statistics.median(walls), statistics.median(cpus), statistics.median(sent))


def median_single_calls(fns: list[Callable[[], Any]], calls: int) -> list[float]:
    """The median time of single calls (µs) of each function, called in turn in one loop.
    It leaves out background work that lands between calls: see ``interleaved_blocks``."""
    samples: list[list[int]] = [[] for _ in fns]
    clock = time.perf_counter_ns
    for _ in range(calls):
        for fn, out in zip(fns, samples, strict=True):
            start = clock()
            fn()
            out.append(clock() - start)
    return [statistics.median(out) / 1000 for out in samples]


def machine_line() -> str:
    """How fast this machine runs plain Python, to read the µs figures by: they scale with
    it from one machine to another (the ratios to a baseline of the same run do not)."""
    best = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    return f"[machine] plain Python: sum(range(1000)) {best:.1f} µs (best of 5)"
