"""No poison batch: a batch the server keeps failing on is split until the item it fails on
is found; every other item is delivered, that one is set aside in the dead-letter file and
counted, and the spool is replayed past it. A server failing everything sets nothing aside."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from pathlib import Path

import orjson
from collector import Collector
from opentelemetry import trace as trace_api
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import margin
from margin.sdk.dead_letters import DEAD_LETTER_FILE, DeadLetters
from margin.sdk.spool import Spool, destination
from margin_testing import wait_until

Configure = Callable[..., None]  # the `sdk` fixture's type (tests/sdk/conftest.py)


def _signals(names: list[str]) -> None:
    for name in names:
        margin.signal(name, {"n": name}, customer="cus_1")


def test_the_item_a_server_fails_on_is_set_aside_and_the_rest_delivered(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.poison = b"poison-pill"
    sdk(max_batch=64)
    good = [f"booked-{i}" for i in range(10)]
    _signals([*good[:4], "poison-pill", *good[4:]])
    assert margin.flush(timeout=30)
    _signals([f"later-{i}" for i in range(100)])  # nothing waits behind the bad one
    assert margin.flush(timeout=30)
    delivered = [s["event_name"] for s in collector.signals]
    assert sorted(delivered) == sorted([*good, *(f"later-{i}" for i in range(100))])
    [dead] = DeadLetters(tmp_path / "spool").read()
    assert (dead["kind"], dead["items"]) == ("signals", 1)
    assert str(dead["reason"]).startswith("server answered 500")
    [item] = orjson.loads(str(dead["body"]))["items"]
    assert (item["event_name"], item["data"]) == ("poison-pill", {"n": "poison-pill"})
    stats = margin.delivery_stats()
    assert stats["dead_lettered"] == 1
    assert stats["exported"] == 110
    assert stats["dropped"] == stats["rejected"] == 0
    assert list((tmp_path / "spool").rglob("*.batch")) == []


def test_spool_replay_goes_on_past_a_poisoned_span(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.stop()
    sdk(max_batch=50)
    tracer = trace_api.get_tracer("bulk")
    with margin.trace("cus_1"):
        for i in range(120):
            tracer.start_span("s", attributes={"marker": "poison-pill" if i == 77 else "ok"}).end()
    assert not margin.flush(timeout=0.5)  # the server is down: spooled
    assert margin.delivery_stats()["spooled"] == 121  # and the trace's own span
    collector.poison = b"poison-pill"
    collector.start()
    assert margin.flush(timeout=30)
    ids = collector.span_ids()
    assert len(ids) == len(set(ids)) == 120
    assert all(s.attributes.get("marker") != "poison-pill" for s in collector.spans)
    [dead] = DeadLetters(tmp_path / "spool").read()
    assert (dead["kind"], dead["items"]) == ("traces", 1)
    body = gzip.decompress(base64.b64decode(str(dead["body_base64"])))
    [span] = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans
    assert {kv.key: kv.value.string_value for kv in span.attributes}["marker"] == "poison-pill"
    stats = margin.delivery_stats()
    assert (stats["dead_lettered"], stats["replayed"]) == (1, 120)
    assert list((tmp_path / "spool").rglob("*.batch")) == []


def test_a_server_failing_everything_sets_nothing_aside(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.status = 500  # every write fails, as when the server's database is down
    sdk(max_batch=20)
    _signals([f"booked-{i}" for i in range(30)])
    assert not margin.flush(timeout=2)
    stats = margin.delivery_stats()
    assert stats["dead_lettered"] == stats["exported"] == stats["dropped"] == 0
    assert stats["spooled"] == 30
    _assert_all_wait_on_disk(tmp_path, collector, 30)
    assert not (tmp_path / "spool" / DEAD_LETTER_FILE).exists()
    collector.status = None
    assert margin.flush(timeout=30)
    assert sorted(s["event_name"] for s in collector.signals) == sorted(
        f"booked-{i}" for i in range(30)
    )
    assert margin.delivery_stats()["dead_lettered"] == 0


def _assert_all_wait_on_disk(tmp_path: Path, collector: Collector, n: int) -> None:
    spool = Spool(destination(tmp_path / "spool", collector.url, "mk_test"))
    # A batch being replayed is off the disk meanwhile.
    wait_until(lambda: spool.pending() == n, timeout=10)


def test_a_batch_spooled_whole_and_replayed_in_halves_is_counted_spooled_once(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.status = 500
    sdk(max_batch=20)
    _signals([f"booked-{i}" for i in range(20)])
    wait_until(lambda: margin.delivery_stats()["spooled"] >= 20, timeout=30)
    # The server now counts as down: these ten are spooled whole, and each replay of them
    # tries them in halves, which wait on disk in their place.
    _signals([f"booked-{i}" for i in range(20, 30)])
    assert not margin.flush(timeout=2)
    assert margin.delivery_stats()["spooled"] == 30
    _assert_all_wait_on_disk(tmp_path, collector, 30)
    collector.status = None
    assert margin.flush(timeout=30)
    assert sorted(s["event_name"] for s in collector.signals) == sorted(
        f"booked-{i}" for i in range(30)
    )
    stats = margin.delivery_stats()
    assert (stats["spooled"], stats["replayed"], stats["exported"]) == (30, 30, 30)


def test_a_bad_item_sent_alone_is_set_aside_once_the_server_takes_others(
    sdk: Configure, collector: Collector, tmp_path: Path
) -> None:
    collector.poison = b"poison-pill"
    sdk()
    _signals(["poison-pill"])
    assert not margin.flush(timeout=1)  # nothing shows yet whether the server takes others
    assert margin.delivery_stats()["dead_lettered"] == 0
    _signals([f"booked-{i}" for i in range(5)])
    assert margin.flush(timeout=30)
    assert sorted(s["event_name"] for s in collector.signals) == [f"booked-{i}" for i in range(5)]
    [dead] = DeadLetters(tmp_path / "spool").read()
    assert dead["items"] == 1
    assert margin.delivery_stats()["dead_lettered"] == 1
