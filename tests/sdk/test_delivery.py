"""Delivery: batching, retries with the same bytes, the spool, and exact accounting."""

from __future__ import annotations

import base64
import gzip
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from collector import Collector
from opentelemetry import trace as trace_api

import margin
from margin.sdk.dead_letters import DeadLetters
from margin_testing import wait_until

Configure = Callable[..., None]  # the `sdk` fixture's type (tests/sdk/conftest.py)


def _spans(n: int, customer: str = "cus_1") -> None:
    tracer = trace_api.get_tracer("bulk")
    with margin.trace(customer):
        for i in range(n - 1):
            tracer.start_span(f"s{i}").end()


def _assert_exactly_once(collector: Collector, expected: int) -> None:
    ids = collector.span_ids()
    assert len(ids) == expected
    assert len(set(ids)) == expected


def test_batches_are_gzip_protobuf_with_bearer_key(sdk: Configure, collector: Collector) -> None:
    sdk(max_batch=100)
    _spans(250)
    assert margin.flush(timeout=10)
    _assert_exactly_once(collector, 250)
    assert collector.requests >= 3
    headers = collector.headers[0]
    assert headers["Authorization"] == "Bearer mk_test"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["Content-Encoding"] == "gzip"
    stats = margin.delivery_stats()
    assert stats["enqueued"] == 250
    assert stats["exported"] == 250
    assert stats["dropped"] == stats["spooled"] == stats["rejected"] == 0


def test_retry_resends_the_same_bytes(sdk: Configure, collector: Collector) -> None:
    collector.fail_next = 2
    sdk()
    _spans(10)
    assert margin.flush(timeout=10)
    assert collector.requests == 3
    assert collector.bodies[0] == collector.bodies[1] == collector.bodies[2]
    _assert_exactly_once(collector, 10)
    stats = margin.delivery_stats()
    assert stats["failed_attempts"] == 2
    assert stats["exported"] == 10
    assert stats["spooled"] == 0


def test_bad_request_is_rejected_not_retried(
    sdk: Configure, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector.status = 400
    sdk()
    _spans(5)
    with caplog.at_level(logging.WARNING, logger="margin"):
        assert margin.flush(timeout=10)
    # Said once, with the status and where the batch is kept.
    [warning] = [r.getMessage() for r in caplog.records if r.name == "margin"]
    assert warning.startswith("margin: the server refused 5 traces item(s) (server answered 400")
    assert warning.endswith(f"kept in {tmp_path / 'spool' / 'dead-letters.jsonl'}")
    assert collector.requests == 1
    stats = margin.delivery_stats()
    assert stats["rejected"] == 5
    assert stats["exported"] == stats["dropped"] == 0
    # Refused, not lost: the batch is in the dead-letter file with the server's answer.
    [letter] = DeadLetters(tmp_path / "spool").read()
    assert (letter["kind"], letter["items"]) == ("traces", 5)
    assert str(letter["reason"]).startswith("server answered 400")
    assert gzip.decompress(base64.b64decode(str(letter["body_base64"]))) == gzip.decompress(
        collector.bodies[0]
    )


@pytest.mark.parametrize("status", [401, 403, 404, 405, 301, 308])
def test_a_refused_key_or_wrong_url_keeps_the_spans_until_they_are_taken(
    sdk: Configure, collector: Collector, status: int
) -> None:
    # A revoked key, a key without the ingest scope, a wrong or a moved URL.
    collector.status = status
    sdk()
    _spans(5)
    assert not margin.flush(timeout=0.5)
    stats = margin.delivery_stats()
    assert (stats["spooled"], stats["rejected"], stats["dropped"], stats["exported"]) == (
        5, 0, 0, 0
    )  # fmt: skip
    collector.status = None  # the key is accepted again
    assert margin.flush(timeout=30)
    _assert_exactly_once(collector, 5)
    assert margin.delivery_stats()["replayed"] == 5


def test_refused_batches_stop_being_kept_once_the_dead_letter_file_is_full(
    sdk: Configure, collector: Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from margin.sdk import _sender

    monkeypatch.setattr(_sender, "_REFUSED_KEPT_BYTES", 1)  # full after the first letter
    collector.status = 400
    sdk()
    for _ in range(3):
        _spans(5)
        assert margin.flush(timeout=10)
    assert margin.delivery_stats()["rejected"] == 15
    assert [letter["items"] for letter in DeadLetters(tmp_path / "spool").read()] == [5]


def test_a_flush_waiting_for_a_server_that_is_down_does_not_spin(
    sdk: Configure, collector: Collector
) -> None:
    # At exit (shutdown flushes) or in a test's flush, while the server is down: the threads
    # wait for the next probe instead of waking each other (they used a core between them).
    collector.stop()
    sdk()
    _spans(5)
    wall, cpu = time.monotonic(), time.process_time()
    assert not margin.flush(timeout=2)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert cpu < 0.25 * wall, (cpu, wall)
    stats = margin.delivery_stats()
    assert (stats["spooled"], stats["dropped"], stats["failed_attempts"] > 1) == (5, 0, True)
    collector.start()  # probed again, after the backoff, and delivered
    assert margin.flush(timeout=30)
    _assert_exactly_once(collector, 5)


def test_server_down_spools_then_replays_every_span_exactly_once(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.stop()
    sdk(max_batch=500, max_queue=1000)
    _spans(5000)
    assert not margin.flush(timeout=0.5)
    stats = margin.delivery_stats()
    assert stats["enqueued"] == 5000
    assert stats["exported"] == 0
    assert stats["spooled"] == 5000
    assert stats["dropped"] == 0
    # How many files hold them depends on which thread spilled (batches or whole queues).
    assert list((tmp_path / "spool").rglob("*.batch"))
    collector.start()  # back, on the same port
    assert margin.flush(timeout=30)
    _assert_exactly_once(collector, 5000)
    stats = margin.delivery_stats()
    assert stats["exported"] == stats["replayed"] == 5000
    assert stats["dropped"] == 0
    assert list((tmp_path / "spool").rglob("*.batch")) == []


def test_full_queue_spills_to_disk_instead_of_dropping(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.gate.clear()  # the server accepts connections but does not answer yet
    sdk(max_queue=100, max_batch=50)
    _spans(1000)
    deadline = time.monotonic() + 10
    while margin.delivery_stats()["spooled"] < 800 and time.monotonic() < deadline:
        time.sleep(0.01)  # the spill thread writes full queues to disk
    stats = margin.delivery_stats()
    assert stats["spooled"] >= 800
    assert stats["dropped"] == 0
    collector.gate.set()
    assert margin.flush(timeout=30)
    _assert_exactly_once(collector, 1000)
    assert margin.delivery_stats()["exported"] == 1000


def test_no_network_on_the_callers_thread(sdk: Configure, collector: Collector) -> None:
    collector.gate.clear()  # every request blocks in the server
    sdk(max_batch=10)
    tracer = trace_api.get_tracer("t")
    started = time.perf_counter()
    for i in range(200):
        with margin.trace(f"cus_{i}"):
            tracer.start_span("chat").end()
            margin.signal("done")
        margin.signal("outside", customer="cus_x")
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, elapsed  # a single blocked request would take 5 s (timeout)
    collector.gate.set()
    assert margin.flush(timeout=30)
    _assert_exactly_once(collector, 600)
    assert len(collector.signals) == 200


def test_spool_from_a_previous_process_is_replayed(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.stop()
    sdk()
    _spans(30)
    margin.shutdown(timeout=0.2)
    assert margin.delivery_stats()["spooled"] == 30
    collector.start()
    sdk()  # a new process would start the same way
    assert margin.flush(timeout=10)
    _assert_exactly_once(collector, 30)
    assert margin.delivery_stats()["replayed"] == 30


def test_batches_spooled_before_destinations_are_named_and_sent_once_moved(
    sdk: Configure, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from margin.sdk.spool import Spool, destination

    root = tmp_path / "spool"
    item = {"event_name": "paid", "customer": "cus_1", "idempotency_key": "k-old"}
    old = Spool(root).write("signals", 1, orjson.dumps({"items": [item]}))
    with caplog.at_level(logging.WARNING, logger="margin"):
        sdk()
    assert margin.flush(timeout=10)
    assert collector.signals == []  # whose they are is not known: never sent unasked
    [warning] = [r.getMessage() for r in caplog.records if "from before" in r.getMessage()]
    mine = destination(root, collector.url, "mk_test")
    assert warning.startswith("margin: 1 items in")
    assert str(mine) in warning
    mine.mkdir(parents=True, exist_ok=True)
    old.path.rename(mine / old.path.name)
    assert margin.flush(timeout=10)
    assert [s["idempotency_key"] for s in collector.signals] == ["k-old"]


def test_spool_files_are_complete_otlp_batches(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.stop()
    sdk()
    _spans(7)
    margin.shutdown(timeout=0.2)
    files = sorted((tmp_path / "spool").rglob("*.batch"))
    assert files
    assert not list((tmp_path / "spool").rglob(".*.tmp"))
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    total = 0
    for file in files:
        request = ExportTraceServiceRequest.FromString(gzip.decompress(file.read_bytes()))
        total += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    assert total == 7


def test_unwritable_spool_counts_drops_and_never_raises(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    collector.stop()
    sdk(spool_dir=blocker / "spool")
    _spans(20)
    margin.signal("s", customer="c")
    assert not margin.flush(timeout=0.3)
    margin.shutdown(timeout=0.1)
    stats = margin.delivery_stats()
    assert stats["enqueued"] == 21
    assert stats["dropped"] == 21
    assert stats["exported"] == stats["spooled"] == 0


def test_spool_claims_are_exclusive_and_recovered_from_dead_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    from margin.sdk.spool import Spool

    first, second = Spool(tmp_path), Spool(tmp_path)
    written = first.write("traces", 3, b"payload")
    (listed,) = second.files()
    claimed = first.claim(listed)
    assert claimed is not None
    assert second.claim(listed) is None
    assert second.files() == []
    first.release(claimed)
    assert [f.path for f in second.files()] == [written.path]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    orphan = written.path.with_name(written.path.name + ".sending-" + dead.stdout.strip())
    written.path.rename(orphan)
    assert first.files() == []
    assert [(f.path, f.count) for f in Spool(tmp_path).files()] == [(written.path, 3)]


def test_forked_child_delivers_with_its_own_worker(sdk: Configure, collector: Collector) -> None:
    import os

    sdk()
    _spans(2, customer="parent")
    pid = os.fork()
    if pid == 0:  # the child: record, flush, report through the exit code
        code = 1
        try:
            _spans(3, customer="child")
            delivered = margin.flush(timeout=10) and margin.delivery_stats()["exported"] == 3
            code = 0 if delivered else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert margin.flush(timeout=10)
    customers = sorted(s.attributes["margin.customer.external_id"] for s in collector.spans)
    assert customers == ["child"] * 3 + ["parent"] * 2
    _assert_exactly_once(collector, 5)


def test_a_span_open_at_the_fork_is_delivered_by_the_child_that_ends_it(
    sdk: Configure, collector: Collector
) -> None:
    import os

    sdk()
    child, code = False, 1
    try:
        with margin.trace("cus_fork"):
            child = os.fork() == 0
            if child:
                trace_api.get_tracer("t").start_span("child-only").end()
        # Both processes left the block: each ended its copy of the trace span.
        if child:
            delivered = margin.flush(timeout=10)
            code = 0 if delivered and margin.delivery_stats()["exported"] == 2 else 2
    finally:
        if child:
            os._exit(code)
    _, status = os.waitpid(-1, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert margin.flush(timeout=10)
    names = sorted(s.name for s in collector.spans)
    assert names == ["child-only", "margin.trace", "margin.trace"]
    assert len({s.span_id for s in collector.spans if s.name == "margin.trace"}) == 1


def test_a_span_ended_after_shutdown_is_spooled_and_delivered_later(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    scope = margin.trace("cus_late")
    scope.__enter__()
    margin.shutdown()
    scope.__exit__(None, None, None)
    assert collector.spans == []
    assert margin.delivery_stats()["spooled"] == 1
    sdk()  # the same spool directory: the next configuration delivers what was spooled
    assert margin.flush(timeout=10)
    assert [s.name for s in collector.spans] == ["margin.trace"]
    assert collector.spans[0].attributes["margin.customer.external_id"] == "cus_late"


def test_a_full_queue_is_spilled_off_the_callers_thread(
    sdk: Configure, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    from margin.sdk.spool import Spool

    writers: list[str] = []
    write = Spool.write

    def observed(self: Spool, *args: Any, **kwargs: Any) -> Any:
        writers.append(threading.current_thread().name)
        return write(self, *args, **kwargs)

    monkeypatch.setattr(Spool, "write", observed)
    collector.gate.clear()
    # The held requests end at the client's timeout: 2 s, not the fixture's 5, is enough.
    sdk(max_queue=100, max_batch=50, timeout=2.0)
    for _ in range(5):
        # Each round fills the queue but stays under two queues' worth, where the caller
        # would have to spill itself.
        deadline = time.monotonic() + 10
        while margin.delivery_stats()["queued"] >= 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        _spans(100)
    assert writers
    assert threading.current_thread().name not in writers
    collector.gate.set()
    assert margin.flush(timeout=30)
    # A request the closed gate held past the client's timeout may also arrive late; the
    # server deduplicates by span id, so what counts is that every span arrived.
    assert len(set(collector.span_ids())) == 500
    assert margin.delivery_stats()["dropped"] == 0


def test_spans_ended_during_a_send_wait_for_a_full_batch_not_a_request_of_their_own(
    sdk: Configure, collector: Collector
) -> None:
    # A steady caller whose calls release the GIL would otherwise be chased by the worker
    # with a request every few spans (bench/sdk_overhead.py --mode network).
    collector.gate.clear()
    sdk(max_batch=50, export_interval=60.0)
    _spans(50)  # a full batch: sent at once, and held by the collector
    wait_until(lambda: collector.arrived == 1, timeout=30)
    _spans(10)  # ended while the first batch is being sent
    collector.gate.set()
    wait_until(lambda: margin.delivery_stats()["exported"] >= 50, timeout=30)
    time.sleep(0.3)  # the worker is free: the old worker sent the ten meanwhile
    assert collector.requests == 1
    assert margin.delivery_stats()["queued"] == 10
    _spans(40)  # a full batch again
    wait_until(lambda: margin.delivery_stats()["exported"] >= 100, timeout=30)
    assert collector.requests == 2
    assert margin.flush(timeout=30)
    _assert_exactly_once(collector, 100)
    assert collector.requests == 2


def test_a_flush_with_nothing_to_deliver_leaves_the_worker_asleep(
    sdk: Configure, collector: Collector
) -> None:
    # A caller that flushes after each burst (a request handler, say): woken for nothing,
    # the worker would send the first spans of the next burst as a request of their own.
    sdk(max_batch=50, export_interval=60.0)
    interval = sys.getswitchinterval()
    for burst in range(1, 6):
        sys.setswitchinterval(10.0)  # the worker runs only once this thread waits
        try:
            assert margin.flush(timeout=30)  # nothing queued
            _spans(10)
        finally:
            sys.setswitchinterval(interval)
        time.sleep(0.1)
        assert collector.requests == burst - 1
        assert margin.delivery_stats()["queued"] == 10
        assert margin.flush(timeout=30)
        assert collector.requests == burst
    _assert_exactly_once(collector, 50)


def _traces_with_one_unencodable_span(customers: int, bad: int) -> None:
    """A trace per customer, each with a child span; the child of customer ``bad`` is named
    with a lone surrogate, which is not Unicode text and has no UTF-8 (protobuf) form."""
    tracer = trace_api.get_tracer("poison")
    for i in range(customers):
        with margin.trace(f"cus_{i}"):
            tracer.start_span("bad \udc80" if i == bad else f"ok {i}").end()


def test_a_span_that_cannot_be_encoded_is_dropped_alone_not_with_its_batch(
    sdk: Configure, collector: Collector
) -> None:
    sdk(export_interval=60)  # all 40 spans in one batch
    _traces_with_one_unencodable_span(20, bad=7)
    assert margin.flush(timeout=10)
    stats = margin.delivery_stats()
    assert (stats["enqueued"], stats["exported"], stats["dropped"]) == (40, 39, 1)
    _assert_exactly_once(collector, 39)
    names = sorted(span.name for span in collector.spans if span.name != "margin.trace")
    assert names == sorted(f"ok {i}" for i in range(20) if i != 7)
    customers = {span.attributes["margin.customer.external_id"] for span in collector.spans}
    assert customers == {f"cus_{i}" for i in range(20)}


def test_a_full_queue_spilled_to_disk_keeps_all_but_the_span_that_cannot_be_encoded(
    sdk: Configure, collector: Collector
) -> None:
    collector.gate.clear()  # the server does not answer yet: full queues go to the spool
    sdk(max_queue=10, max_batch=5)
    _traces_with_one_unencodable_span(20, bad=6)
    deadline = time.monotonic() + 10
    while margin.delivery_stats()["spooled"] < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert margin.delivery_stats()["spooled"] >= 20
    collector.gate.set()
    assert margin.flush(timeout=30)
    stats = margin.delivery_stats()
    assert (stats["enqueued"], stats["exported"], stats["dropped"]) == (40, 39, 1)
    _assert_exactly_once(collector, 39)
    assert "bad \udc80" not in {span.name for span in collector.spans}
