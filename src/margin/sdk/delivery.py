"""Background delivery: spans and signals leave the caller's thread at once and reach the
server from one daemon thread, in batches, with retries that resend the same bytes, and an
on-disk spool instead of loss when the queue overflows or the server is down.

How one batch is sent, retried, and split to set aside what the server keeps failing on,
is ``_sender``'s job."""

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

from margin._version import __version__
from margin.sdk._endpoint import Endpoint
from margin.sdk._sender import Result, Sender
from margin.sdk.dead_letters import DeadLetters
from margin.sdk.payloads import encode_signals, encode_spans, encode_traces
from margin.sdk.spool import Spool, SpoolFile, destination

__all__ = ["Delivery", "DeliveryConfig"]

log = logging.getLogger("margin")

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
    "dead_lettered",
    "failed_attempts",
)


@dataclass(frozen=True)
class DeliveryConfig:
    """Where and how to deliver; see ``margin.configure`` for the meaning of each field."""

    base_url: str
    api_key: str
    spool_dir: Path
    max_queue: int = 8192
    # Fewer wake-ups and requests a span than OpenTelemetry's 512 (bench/sdk_overhead.py
    # --mode openai: +46.4 → +40.5 µs CPU a call, 6 interleaved runs).
    max_batch: int = 2048
    export_interval: float = 1.0
    timeout: float = 10.0
    max_attempts: int = 3
    retry_backoff: float = 0.5


class Delivery:
    """The queue, the worker thread and the spool of one configured SDK."""

    def __init__(self, config: DeliveryConfig, http: httpx.Client | None = None) -> None:
        self.config = config
        self.spool = Spool(destination(config.spool_dir, config.base_url, config.api_key))
        self.dead_letters = DeadLetters(config.spool_dir)
        try:
            unsorted = Spool(config.spool_dir).pending()
        except OSError:  # an unusable directory: the spool's own writes report it
            unsorted = 0
        if unsorted:  # spooled by a build that did not keep batches by destination
            log.warning(
                "margin: %s items in %s wait from before batches were kept by destination; "
                "move the *.batch files into %s to send them with this configuration",
                unsorted,
                config.spool_dir,
                self.spool.directory,
            )
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
        self._wake = threading.Event()
        self._abort = threading.Event()
        self._sender = Sender(
            Endpoint(self._http, self.config.base_url, self._headers, self._warn),
            self.dead_letters,
            retry_backoff=self.config.retry_backoff,
            abort=self._abort,
            count=self._add,
            persist=self._persist,
            warn=self._warn,
        )
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
        """Start over in a forked child: threads do not survive ``fork``; the locks, queued items
        (the parent delivers those) and connections are the parent's. The object stays, so
        spans open at the fork and ended in the child reach the child's worker."""
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
        """``submit("traces", span)``, the sink of every span Margin records itself (a
        ``_record`` tuple, or the ``LightSpan`` when it has events, links or a result to read)."""
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
        with self._cond:
            # Woken for nothing, the worker sent a burst's spans (bench/sdk_overhead.py: 41->15 µs)
            if self._idle():
                return True
            self._sender.next_probe = 0.0
            self._wake.set()
            while True:
                now = time.monotonic()
                remaining = deadline - now
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                # While the server is down and nothing waits in memory, there is nothing to do
                # before the next probe: waking the worker meanwhile only spins both threads.
                probe_in = self._sender.next_probe - now
                if probe_in > 0 and self._sender.down and not self._busy():
                    self._cond.wait(min(remaining, probe_in))
                else:
                    self._wake.set()
                    self._cond.wait(min(remaining, 0.05))
                if self._idle():
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
        batch = self.config.max_batch
        for kind, queue in self._queues.items():
            # What was queued at the wake goes, then only full batches until the next wake (a
            # full batch, the interval, a flush), as OpenTelemetry's batch processor does:
            # sending what arrived during each send chased a caller that frees the GIL with
            # requests of a few spans (bench/sdk_overhead.py --mode network: delivery thread
            # 22.2 -> 15.3 µs a call).
            due = len(queue)
            while queue and (due > 0 or len(queue) >= batch) and not self._abort.is_set():
                items = self._take(kind, batch)
                n = len(items)
                due -= n
                try:
                    sent_as, n, payload = self._encode(kind, items)
                    if payload is None:
                        continue
                    if self._sender.down:
                        self._persist(sent_as, n, payload)
                    else:
                        self._deliver(sent_as, n, payload)
                except Exception:  # a fault past encoding: the batch is counted, not lost track of
                    self._warn("deliver", "margin: cannot deliver a batch", exc_info=True)
                    self._add("dropped", n)
                finally:
                    self._finished(len(items))

    def _deliver(self, kind: str, n: int, payload: bytes) -> None:
        sent = self._sender.send(kind, n, payload, self.config.max_attempts, replayed=False)
        if sent is not Result.DONE:
            self._persist(kind, n, payload)
        if sent is Result.KEPT:  # new batches wait in the spool until the next replay
            self._sender.mark_down(None)

    def _replay(self) -> None:
        if time.monotonic() < self._sender.next_probe:
            return
        kept = False
        for spooled in self.spool.files():
            if self._abort.is_set():
                return
            # Counted in flight while claimed, so flush() does not see an idle spool meanwhile.
            with self._cond:
                self._in_flight += 1
            try:
                result = self._replay_one(spooled)
            finally:
                self._finished(1)
            if result is Result.DOWN:
                return
            kept = kept or result is Result.KEPT  # a kept batch does not stop the replay
        if kept:
            self._sender.mark_down(None)  # try it again after a pause
        else:
            self._sender.up()

    def _replay_one(self, spooled: SpoolFile) -> Result:
        """Send one spooled batch (see ``Sender.send``): it stays spooled unless done."""
        claimed = self.spool.claim(spooled)
        if claimed is None:
            return Result.DONE  # another process sharing the directory is replaying it
        try:
            payload = claimed.read()
        except OSError:
            self.spool.release(claimed)
            return Result.DONE
        result = self._sender.send(claimed.kind, claimed.count, payload, 1, replayed=True)
        if result is Result.DONE:
            self.spool.remove(claimed)
        else:
            self.spool.release(claimed)
        return result

    # -- bookkeeping ---------------------------------------------------------------------------

    def _encode(self, kind: str, items: list[Any]) -> tuple[str, int, bytes | None]:
        """The kind of body ``items`` go as, the body (None when none could be encoded) and how
        many items it holds: Margin's span format (``spans``) while the server takes it, else
        OTLP. An item that cannot be encoded (a span named with a lone surrogate, say) is
        dropped and counted alone: the rest of its batch, other customers' costs, is delivered."""
        if kind == "traces" and self._sender.endpoint.takes_spans:
            # bench/sdk_overhead.py --mode openai: CPU +48.4 -> +34.6 µs a call.
            try:
                body = encode_spans(items)
            except Exception:  # OTLP below names what it cannot encode
                body = None
            if body is not None:
                return "spans", len(items), body
        encode = _ENCODERS[kind]
        try:
            return kind, len(items), encode(items)
        except Exception:
            self._warn("encode", "margin: cannot encode an item; dropping it", exc_info=True)
        good = []
        for item in items:
            try:
                encode([item])
            except Exception:
                continue
            good.append(item)
        self._add("dropped", len(items) - len(good))
        try:
            return kind, len(good), encode(good) if good else None
        except Exception:  # pragma: no cover - each one alone was encoded
            self._add("dropped", len(good))
            return kind, 0, None

    def _spill(self, kind: str) -> None:
        items = self._take(kind, len(self._queues[kind]))
        if not items:
            return
        try:
            sent_as, n, payload = self._encode(kind, items)
            if payload is not None:
                self._persist(sent_as, n, payload)
        finally:
            self._finished(len(items))

    def _persist(self, kind: str, n: int, payload: bytes, again: bool = False) -> SpoolFile | None:
        """Write a batch to the spool. ``again``: its items come from the spool (the halves of
        a replayed batch), where ``spooled`` counted them already."""
        try:
            spooled = self.spool.write(kind, n, payload)
        except OSError as exc:
            self._warn(
                "spool", "margin: cannot write spool %s (%s); dropping", self.spool.directory, exc
            )
            self._add("dropped", n)
            return None
        if not again:
            self._add("spooled", n)
        return spooled

    def _take(self, kind: str, n: int) -> list[Any]:
        queue = self._queues[kind]
        with self._cond:
            items = [queue.popleft() for _ in range(min(n, len(queue)))]
            self._taken += len(items)
            self._in_flight += len(items)
        return items

    def _finished(self, n: int) -> None:
        with self._cond:
            self._in_flight -= n
            self._cond.notify_all()

    def _busy(self) -> bool:
        """Whether items wait in memory or are being delivered or spooled."""
        return bool(self._in_flight or any(self._queues.values()))

    def _idle(self) -> bool:
        return not self._busy() and not self.spool.files()

    def _add(self, counter: str, n: int) -> None:
        with self._cond:
            self._counts[counter] += n

    def _warn(self, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        # Once per kind of failure: a dead server must not flood the user's logs.
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args, exc_info=exc_info)
