"""Background delivery: spans and signals leave the caller's thread at once and reach the
server from one daemon thread, in batches, with retries that resend the same bytes, and an
on-disk spool instead of loss when the queue overflows or the server is down."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from margin._version import __version__
from margin.sdk._http import RETRYABLE_STATUS, backoff_delay, retry_after_seconds
from margin.sdk.payloads import encode_signals, encode_traces
from margin.sdk.spool import Spool, SpoolFile

__all__ = ["Delivery", "DeliveryConfig"]

log = logging.getLogger("margin")

_ENDPOINTS: dict[str, tuple[str, dict[str, str]]] = {
    "traces": (
        "/v1/traces",
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
    ),
    "signals": ("/v1/signals", {"Content-Type": "application/json"}),
}
_ENCODERS: dict[str, Callable[[Sequence[Any]], bytes]] = {
    "traces": encode_traces,
    "signals": encode_signals,
}
_COUNTERS = (
    "enqueued",
    "exported",
    "spooled",
    "replayed",
    "dropped",
    "rejected",
    "failed_attempts",
)
# A server asking for a longer pause than this gets the batch spooled instead of a blocked worker.
_MAX_INLINE_WAIT = 5.0


@dataclass(frozen=True)
class DeliveryConfig:
    """Where and how to deliver; see ``margin.configure`` for the meaning of each field."""

    base_url: str
    api_key: str
    spool_dir: Path
    max_queue: int = 8192
    max_batch: int = 512
    export_interval: float = 1.0
    timeout: float = 10.0
    max_attempts: int = 3
    retry_backoff: float = 0.5


@dataclass(frozen=True, slots=True)
class _Outcome:
    kind: str  # "ok" | "retry" | "reject"
    rejected: int = 0
    retry_after: float | None = None


class Delivery:
    """The queue, the worker thread and the spool of one configured SDK."""

    def __init__(self, config: DeliveryConfig, http: httpx.Client | None = None) -> None:
        self.config = config
        self.spool = Spool(config.spool_dir)
        self._headers = {
            "Authorization": f"Bearer {config.api_key}",
            "User-Agent": f"margin-python/{__version__}",
        }
        # Below this queue length a submit does nothing more than append.
        self._pressure_at = min(config.max_batch, config.max_queue)
        self._start(http)

    def _start(self, http: httpx.Client | None) -> None:
        self._http = http or httpx.Client(timeout=self.config.timeout)
        self._traces: deque[Any] = deque()
        self._queues: dict[str, deque[Any]] = {"traces": self._traces, "signals": deque()}
        self._cond = threading.Condition()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._taken = 0
        self._in_flight = 0
        self._down = False
        self._streak = 0
        self._next_probe = 0.0
        self._wake = threading.Event()
        self._abort = threading.Event()
        self._closed = False
        self._warned: set[str] = set()
        self._spill_wake = threading.Event()
        # The worker's first connection looks up the idna codec; importing it there, while a
        # busy caller holds the GIL, was seen to stall delivery for seconds.
        "margin".encode("idna")
        self._thread = threading.Thread(target=self._run, name="margin-delivery", daemon=True)
        self._thread.start()
        self._spiller = threading.Thread(target=self._spill_full, name="margin-spill", daemon=True)
        self._spiller.start()

    def after_fork(self) -> None:
        """Start over in a forked child: threads do not survive ``fork``, and the locks, the
        queued items (the parent delivers those) and the connections are the parent's. The
        object stays the same, so spans open at the fork and ended in the child reach this
        process's worker."""
        # The parent's client is left unclosed: closing it could end connections it still uses.
        self._start(None)

    # -- caller side: no network here -------------------------------------------------------

    def submit(self, kind: str, item: Any) -> None:
        """Queue one span or signal item. A full queue is spilled to disk by the spill thread;
        only if that thread falls a whole queue behind does the caller spill (backpressure:
        memory stays bounded and nothing is dropped)."""
        queue = self._queues[kind]
        queue.append(item)
        size = len(queue)
        if size >= self._pressure_at or self._closed:
            self._pressure(kind, size)

    def submit_span(self, span: Any) -> None:
        """``submit("traces", span)``: the sink of every span Margin records itself."""
        queue = self._traces
        queue.append(span)
        size = len(queue)
        if size >= self._pressure_at or self._closed:
            self._pressure("traces", size)

    def _pressure(self, kind: str, size: int) -> None:
        if self._closed:  # shut down: what still arrives goes to the spool
            self._spill(kind)
        elif size >= self.config.max_queue:
            if size >= 2 * self.config.max_queue:
                self._spill(kind)
            elif not self._spill_wake.is_set():
                self._spill_wake.set()
        elif not self._wake.is_set():
            self._wake.set()

    def count_dropped(self, n: int) -> None:
        self._add("enqueued", n)
        self._add("dropped", n)

    def stats(self) -> dict[str, int]:
        with self._cond:
            counts = dict(self._counts)
            queued = sum(len(q) for q in self._queues.values())
            counts["enqueued"] += self._taken + queued
            counts["queued"] = queued + self._in_flight
        return counts

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything queued and spooled; False if that did not finish in time."""
        deadline = time.monotonic() + (30.0 if timeout is None else timeout)
        self._next_probe = 0.0
        self._wake.set()
        with self._cond:
            while not self._idle():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._wake.set()
                self._cond.wait(min(remaining, 0.05))
        return True

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flush within ``timeout``, stop the worker, and spool whatever is still queued."""
        if self._closed:
            return True
        delivered = self.flush(timeout)
        self._abort.set()
        self._wake.set()
        self._spill_wake.set()
        self._thread.join(timeout=max(1.0, self.config.timeout))
        self._spiller.join(timeout=max(1.0, self.config.timeout))
        self._closed = True
        for kind in self._queues:
            self._spill(kind)
        self._http.close()
        return delivered

    # -- worker side ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._abort.is_set():
            self._wake.wait(self.config.export_interval)
            self._wake.clear()
            try:
                self._pump()
            except Exception:  # the worker must outlive any bug in one batch
                self._warn("worker", "margin: delivery worker error", exc_info=True)
            with self._cond:
                self._cond.notify_all()

    def _spill_full(self) -> None:
        # Disk work for a full queue happens here, never on the caller's thread.
        while not self._abort.is_set():
            self._spill_wake.wait()
            self._spill_wake.clear()
            for kind, queue in self._queues.items():
                if len(queue) >= self.config.max_queue:
                    self._spill(kind)
            with self._cond:
                self._cond.notify_all()

    def _pump(self) -> None:
        self._replay()
        for kind, queue in self._queues.items():
            while queue and not self._abort.is_set():
                items = self._take(kind, self.config.max_batch)
                try:
                    payload = _ENCODERS[kind](items)
                    if self._down:
                        self._persist(kind, len(items), payload)
                    else:
                        self._deliver(kind, len(items), payload)
                except Exception:
                    self._warn("encode", "margin: cannot encode a batch", exc_info=True)
                    self._add("dropped", len(items))
                finally:
                    self._settle(len(items))

    def _deliver(self, kind: str, n: int, payload: bytes) -> None:
        for attempt in range(self.config.max_attempts):
            outcome = self._post(kind, payload)
            if outcome.kind != "retry":
                self._record(outcome, n, replayed=False)
                return
            self._add("failed_attempts", 1)
            delay = outcome.retry_after
            if delay is None:
                delay = backoff_delay(attempt, self.config.retry_backoff)
            if attempt + 1 == self.config.max_attempts or delay > _MAX_INLINE_WAIT:
                break
            if self._abort.wait(delay):
                break
        self._mark_down(None)
        self._persist(kind, n, payload)

    def _replay(self) -> None:
        if time.monotonic() < self._next_probe:
            return
        for spooled in self.spool.files():
            if self._abort.is_set():
                return
            # Counted in flight while claimed, so flush() does not see an idle spool meanwhile.
            with self._cond:
                self._in_flight += 1
            try:
                if not self._replay_one(spooled):
                    return
            finally:
                self._settle(1)
        self._down = False
        self._streak = 0

    def _replay_one(self, spooled: SpoolFile) -> bool:
        """Send one spooled batch; False when the server is still unavailable."""
        claimed = self.spool.claim(spooled)
        if claimed is None:
            return True  # another process sharing the directory is replaying it
        try:
            payload = claimed.read()
        except OSError:
            self.spool.release(claimed)
            return True
        outcome = self._post(claimed.kind, payload)
        if outcome.kind == "retry":
            self.spool.release(claimed)
            self._add("failed_attempts", 1)
            self._mark_down(outcome.retry_after)
            return False
        self.spool.remove(claimed)
        self._record(outcome, claimed.count, replayed=True)
        return True

    def _post(self, kind: str, payload: bytes) -> _Outcome:
        path, headers = _ENDPOINTS[kind]
        try:
            response = self._http.post(
                self.config.base_url + path, content=payload, headers={**self._headers, **headers}
            )
        except httpx.HTTPError as exc:
            self._warn(
                "connection", "margin: cannot reach %s (%s); spooling", self.config.base_url, exc
            )
            return _Outcome("retry")
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome("ok", rejected=_partial_rejections(kind, response))
        if status in RETRYABLE_STATUS:
            self._warn(f"status-{status}", "margin: server answered %s; will retry", status)
            return _Outcome(
                "retry", retry_after=retry_after_seconds(response.headers.get("Retry-After"))
            )
        self._warn(
            f"rejected-{status}",
            "margin: server rejected a %s batch with %s: %s",
            kind,
            status,
            response.text[:300],
        )
        return _Outcome("reject")

    # -- bookkeeping ---------------------------------------------------------------------------

    def _record(self, outcome: _Outcome, n: int, *, replayed: bool) -> None:
        if outcome.kind == "reject":
            self._add("rejected", n)
            return
        self._add("exported", n - outcome.rejected)
        self._add("rejected", outcome.rejected)
        if replayed:
            self._add("replayed", n - outcome.rejected)

    def _mark_down(self, retry_after: float | None) -> None:
        self._down = True
        self._streak += 1
        wait = backoff_delay(self._streak - 1, self.config.retry_backoff, cap=30.0)
        self._next_probe = time.monotonic() + max(wait, retry_after or 0.0)

    def _spill(self, kind: str) -> None:
        items = self._take(kind, len(self._queues[kind]))
        if not items:
            return
        try:
            self._persist(kind, len(items), _ENCODERS[kind](items))
        except Exception:
            self._warn("encode", "margin: cannot encode a batch", exc_info=True)
            self._add("dropped", len(items))
        finally:
            self._settle(len(items))

    def _persist(self, kind: str, n: int, payload: bytes) -> SpoolFile | None:
        try:
            spooled = self.spool.write(kind, n, payload)
        except OSError as exc:
            self._warn(
                "spool", "margin: cannot write spool %s (%s); dropping", self.spool.directory, exc
            )
            self._add("dropped", n)
            return None
        self._add("spooled", n)
        return spooled

    def _take(self, kind: str, n: int) -> list[Any]:
        queue = self._queues[kind]
        with self._cond:
            items = [queue.popleft() for _ in range(min(n, len(queue)))]
            self._taken += len(items)
            self._in_flight += len(items)
        return items

    def _settle(self, n: int) -> None:
        with self._cond:
            self._in_flight -= n
            self._cond.notify_all()

    def _idle(self) -> bool:
        if self._in_flight or any(self._queues.values()):
            return False
        return not self.spool.files()

    def _add(self, counter: str, n: int) -> None:
        with self._cond:
            self._counts[counter] += n

    def _warn(self, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        # Once per kind of failure: a dead server must not flood the user's logs.
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args, exc_info=exc_info)


def _partial_rejections(kind: str, response: httpx.Response) -> int:
    if not response.content:
        return 0
    try:
        if kind == "traces":
            if "protobuf" not in response.headers.get("Content-Type", ""):
                return 0
            result = ExportTraceServiceResponse.FromString(response.content)
            return int(result.partial_success.rejected_spans)
        body = orjson.loads(response.content)
        return len(body.get("failed") or ()) if isinstance(body, dict) else 0
    except Exception:
        return 0
