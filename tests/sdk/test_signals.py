"""margin.signal inside a trace (a span) and outside (background REST)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from collector import Collector

import margin

Configure = Callable[..., None]  # the `sdk` fixture's type (tests/sdk/conftest.py)


def test_signal_in_trace_is_a_span_of_that_trace(sdk: Configure, collector: Collector) -> None:
    sdk()
    with margin.trace("cus_1", "agent_1"):
        key = margin.signal("meeting_booked", {"value": 3}, cost_tracing=True)
        margin.signal("noted", idempotency_key="my-key")
    assert margin.flush(timeout=10)
    spans = {
        s.name + ":" + str(s.attributes.get("margin.signal.event_name")): s for s in collector.spans
    }
    assert set(spans) == {
        "margin.trace:None",
        "margin.signal:meeting_booked",
        "margin.signal:noted",
    }
    booked = spans["margin.signal:meeting_booked"]
    assert booked.attributes == {
        "margin.customer.external_id": "cus_1",
        "margin.agent.external_id": "agent_1",
        "external_customer_id": "cus_1",
        "external_agent_id": "agent_1",
        "margin.signal.event_name": "meeting_booked",
        "margin.signal.cost_tracing": True,
        "margin.signal.data": json.dumps({"value": 3}, separators=(",", ":")),
        "margin.signal.idempotency_key": key,
    }
    assert len(key) == 32
    assert spans["margin.signal:noted"].attributes["margin.signal.idempotency_key"] == "my-key"
    assert spans["margin.signal:noted"].attributes["margin.signal.cost_tracing"] is False
    root = spans["margin.trace:None"]
    assert booked.trace_id == root.trace_id
    assert booked.parent_span_id == root.span_id
    assert collector.signals == []


def test_signal_outside_trace_goes_to_rest(sdk: Configure, collector: Collector) -> None:
    sdk()
    key = margin.signal(
        "ticket_resolved", {"n": 1}, customer="cus_9", agent="ag", cost_tracing=True
    )
    assert margin.flush(timeout=10)
    assert collector.spans == []
    (item,) = collector.signals
    assert item["event_name"] == "ticket_resolved"
    assert item["customer"] == "cus_9"
    assert item["agent"] == "ag"
    assert item["data"] == {"n": 1}
    assert item["idempotency_key"] == key
    assert item["cost_tracing"] is True
    assert item["timestamp"].endswith("+00:00")
    assert collector.headers[0]["Authorization"] == "Bearer mk_test"
    assert margin.delivery_stats()["exported"] == 1


def test_a_signal_names_its_customers_unit(sdk: Configure, collector: Collector) -> None:
    sdk()
    margin.signal("meeting_booked", customer="acme", unit="team-a")
    margin.signal("meeting_booked", customer="acme")
    assert margin.flush(timeout=10)
    assert [item.get("unit") for item in collector.signals] == ["team-a", None]


def test_signal_outside_trace_without_customer_is_counted_dropped(
    sdk: Configure, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    sdk()
    with caplog.at_level(logging.WARNING, logger="margin"):
        margin.signal("lost")
        margin.signal("lost again")
    assert margin.flush(timeout=10)
    stats = margin.delivery_stats()
    assert stats["dropped"] == 2
    assert stats["enqueued"] == 2
    assert collector.requests == 0
    assert sum("needs customer" in r.getMessage() for r in caplog.records) <= 1


def test_signal_retried_through_outage_keeps_its_key(sdk: Configure, collector: Collector) -> None:
    collector.stop()
    sdk()
    key = margin.signal("paid", customer="cus_1")
    assert not margin.flush(timeout=0.3)
    collector.start()
    assert margin.flush(timeout=10)
    assert [s["idempotency_key"] for s in collector.signals] == [key]
    assert margin.delivery_stats()["replayed"] == 1


def test_unserializable_data_never_raises(sdk: Configure, collector: Collector) -> None:
    sdk()
    with margin.trace("cus_1"):
        margin.signal("odd", {"obj": object()})
    assert margin.flush(timeout=10)
    (sig,) = [s for s in collector.spans if s.name == "margin.signal"]
    assert "object object" in sig.attributes["margin.signal.data"]


def test_data_keys_that_are_not_text_become_text_as_in_json(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    margin.signal("scored", {1: "one", "n": 2}, customer="cus_1")
    with margin.trace("cus_1"):
        margin.signal("scored", {2.5: True})
    assert margin.flush(timeout=10)
    assert [s["data"] for s in collector.signals] == [{"1": "one", "n": 2}]
    (sig,) = [s for s in collector.spans if s.name == "margin.signal"]
    assert json.loads(sig.attributes["margin.signal.data"]) == {"2.5": True}
    assert margin.delivery_stats()["dropped"] == 0


def test_a_signal_that_cannot_be_recorded_is_counted_dropped(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    margin.signal("odd", {"n": 1}, customer="cus_1")
    margin.signal("bad", {"n": 2**64}, customer="cus_1")  # no exact JSON form: refused
    assert margin.flush(timeout=10)
    assert [s["event_name"] for s in collector.signals] == ["odd"]
    stats = margin.delivery_stats()
    assert (stats["enqueued"], stats["exported"], stats["dropped"]) == (2, 1, 1)
