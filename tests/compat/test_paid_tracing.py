"""paid-python 1.12.0's tracing, unmodified, pointed at Margin by ``PAID_OTEL_COLLECTOR_ENDPOINT``
and ``PAID_API_KEY``: wrappers, ``paid_autoinstrument``, ``signal(enable_cost_tracing=True)``,
distributed tracing tokens, and ``cost_attributed_signal``, with the costs and attribution
Margin reports, compared with Margin's own SDK doing the same work.

One process runs most flows (each for its own customer), as one application would: its
spans are exported gzip-compressed, then exported three more times by Paid's exporter
class (a retry storm), and must be stored once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from compat_support import FAKE_OPENAI, Served, run_script, wait_for

# gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens. One call:
# 16 uncached + 5 cached input tokens, 7 output tokens.
ONE_CALL = Decimal("0.000006975")
# gpt-4.1-mini: $0.40 input, $0.10 cached input, $1.60 output per 1M tokens.
DOC_USAGE_COST = Decimal("0.00058")  # 100 input + 600 cached + 300 output tokens

FAKE_ANTHROPIC = """
import httpx2, anthropic
from paid.tracing.wrappers.anthropic import PaidAnthropic

def _claude_answer(request):
    return httpx2.Response(200, json={
        "id": "msg_" + uuid.uuid4().hex, "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-20250514", "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "Done."}],
        "usage": {"input_tokens": 100, "output_tokens": 50,
                  "cache_read_input_tokens": 40, "cache_creation_input_tokens": 10},
    })

claude = PaidAnthropic(anthropic.Anthropic(
    api_key="sk-ant-test", base_url="http://anthropic.test",
    http_client=httpx2.Client(transport=httpx2.MockTransport(_claude_answer))))
"""

FLOWS = """
import os
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from paid.tracing import (
    cost_attributed_signal, get_paid_tracer_provider, initialize_tracing, paid_tracing, signal,
)
from paid.tracing.wrappers.openai import PaidOpenAI

initialize_tracing()
kept = InMemorySpanExporter()
get_paid_tracer_provider().add_span_processor(SimpleSpanProcessor(kept))
oa = PaidOpenAI(openai_client)

# The seed's AI SDR example (1.12 names): two wrapped calls, one cost-tracing signal a reply.
@paid_tracing("sdr-paid", external_product_id="ai-sdr")
def process_reply(reply_id):
    ask(oa, "Classify this reply")
    ask(oa, "Draft an answer")
    signal("meeting_booked", enable_cost_tracing=True, data={"reply_id": reply_id})

for reply in ("r-1", "r-2"):
    process_reply(reply)

# Manual costs in an OTLP signal's data (a JSON string on the span), both forms.
with paid_tracing("otlp-manual", external_product_id="manual"):
    ask(oa)
    signal("report_sent", data={"costData": {"vendor": "serpapi",
           "cost": {"amount": 0.0158, "currency": "USD"}}})
    signal("report_priced", data={"costData": {"vendor": "openai", "attributes": {
        "gen_ai.response.model": "gpt-4.1-mini", "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cached_input_tokens": 600}}})

# Anthropic through Paid's wrapper.
with paid_tracing("anthropic-paid", external_product_id="claude-agent"):
    claude.messages.create(model="claude-sonnet-4-20250514", max_tokens=64,
                           messages=[{"role": "user", "content": "Hi"}])

# cost_attributed_signal: a REST signal claiming its scope's spans (exported after it).
with paid_tracing("scoped-batch", external_product_id="tasks"):
    ask(oa)
    ask(oa)
    sent = cost_attributed_signal("task_done", data={"task": "t-1"}, idempotency_key="scoped-batch",
                                  base_url_override=os.environ["PAID_BASE_URL"])
    assert (sent.ingested, sent.duplicates, sent.failed) == (1, 0, 0), sent
    ask(oa)  # a new scope: not this signal's cost
done()

again = OTLPSpanExporter(endpoint=os.environ["PAID_OTEL_COLLECTOR_ENDPOINT"],
                         headers={"Authorization": "Bearer " + os.environ["PAID_API_KEY"]})
for _ in range(3):
    assert again.export(kept.get_finished_spans()).name == "SUCCESS"
"""


def paid_env(served: Served, **extra: str) -> dict[str, str]:
    return {
        "PAID_OTEL_COLLECTOR_ENDPOINT": f"{served.url}/v1/traces",
        "PAID_API_KEY": served.keys["ingest"],
        "PAID_BASE_URL": f"{served.url}/compat/paid/api/v2",
        **extra,
    }


def money(amounts: dict[str, str]) -> dict[str, Decimal]:
    return {currency: Decimal(amount) for currency, amount in amounts.items()}


def costs_of(served: Served, customer: str, count: int) -> list[dict[str, Any]]:
    found = wait_for(lambda: (c := served.costs(customer=customer)) and len(c) >= count and c)
    assert found, f"no costs for {customer}"
    return list(found)


@pytest.fixture(scope="module")
def flows(served: Served) -> Served:
    """The flows of ``FLOWS`` run once (gzip-compressed exports, then a retry storm), and the
    same SDR work done by Margin's own SDK for customer ``sdr-margin``."""
    run_script(
        FAKE_OPENAI + FAKE_ANTHROPIC + FLOWS,
        paid_env(served, OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="gzip"),
    )
    run_script(
        FAKE_OPENAI
        + """
import margin
margin.configure()
margin.instrument_openai(openai_client)
for reply in ("r-1", "r-2"):
    with margin.trace("sdr-margin", "ai-sdr"):
        ask(openai_client, "Classify this reply")
        ask(openai_client, "Draft an answer")
        margin.signal("meeting_booked", {"reply_id": reply}, cost_tracing=True)
margin.flush()
margin.shutdown()
""",
        {"MARGIN_API_KEY": served.keys["ingest"], "MARGIN_BASE_URL": served.url},
    )
    return served


def test_sdr_flow_matches_margins_own_sdk(flows: Served) -> None:
    paid_costs = costs_of(flows, "sdr-paid", 4)
    ours = costs_of(flows, "sdr-margin", 4)

    def shape(costs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (c["provider"], c["model"], Decimal(c["amount"]), c["priced_by"]) for c in costs
        )

    one = ("openai", "gpt-4o-mini-2024-07-18", ONE_CALL, "catalog")
    assert shape(paid_costs) == shape(ours) == [one] * 4
    assert [c["usage"] for c in paid_costs] == [c["usage"] for c in ours]
    for customer in ("sdr-paid", "sdr-margin"):
        signals = flows.signals(customer=customer)
        assert sorted(s["data"]["reply_id"] for s in signals) == ["r-1", "r-2"]
        assert all(s["cost_tracing"] for s in signals)
        for signal in signals:
            detail = flows.get(f"/v1/signals/{signal['id']}")
            assert money(detail["attributed_cost"]) == {"USD": 2 * ONE_CALL}
            assert detail["costs"] == 2
        assert flows.report(customer=customer, group_by="event_name") == {
            ("meeting_booked",): (4 * ONE_CALL, 2)
        }


def test_cost_data_in_an_otlp_signal_both_forms(flows: Served) -> None:
    costs = costs_of(flows, "otlp-manual", 3)
    assert sorted((c["provider"], c["priced_by"], Decimal(c["amount"])) for c in costs) == [
        ("openai", "catalog", ONE_CALL),
        ("openai", "catalog", DOC_USAGE_COST),
        ("serpapi", "provided", Decimal("0.0158")),
    ]
    assert sorted(s["event_name"] for s in flows.signals(customer="otlp-manual")) == [
        "report_priced",
        "report_sent",
    ]


def test_re_exported_spans_are_stored_once(flows: Served) -> None:
    """Every span of the run was exported four times in all."""
    counts = {c: len(flows.costs(customer=c)) for c in ("sdr-paid", "otlp-manual", "scoped-batch")}
    assert counts == {"sdr-paid": 4, "otlp-manual": 3, "scoped-batch": 3}
    assert len(flows.signals(customer="sdr-paid")) == 2


def test_paid_anthropic_counts_cache_tokens_as_anthropic_reports_them(flows: Served) -> None:
    """Anthropic reports input tokens without its cache reads and writes; Paid's wrapper
    passes them on as they are, and Margin prices the call as a native Anthropic cost."""
    [paid_cost] = costs_of(flows, "anthropic-paid", 1)
    native = {
        "customer": "anthropic-native",
        "provider": "anthropic",
        "model": "claude-sonnet-4-20250514",
        "usage": {
            "input_tokens": 100,
            "output_tokens": 50,
            "cache_read_input_tokens": 40,
            "cache_creation_input_tokens": 10,
        },
    }
    with flows.client("ingest") as client:
        assert client.post("/v1/costs", json=native).status_code == 201
    [ours] = flows.costs(customer="anthropic-native")
    assert paid_cost["usage"] == ours["usage"]
    assert paid_cost["usage"]["input_tokens"] == 150
    assert (paid_cost["amount"], paid_cost["priced_by"]) == (ours["amount"], "catalog")


def check_scope(served: Served, customer: str) -> None:
    costs = costs_of(served, customer, 3)
    [signal] = served.signals(customer=customer)
    assert signal["event_name"] == "task_done"
    assert signal["data"]["task"] == "t-1"
    assert [c["signal_id"] for c in costs].count(signal["id"]) == 2
    assert [c["signal_id"] for c in costs].count(None) == 1
    detail = served.get(f"/v1/signals/{signal['id']}")
    assert money(detail["attributed_cost"]) == {"USD": 2 * ONE_CALL}
    assert served.report(customer=customer, group_by="event_name") == {
        ("task_done",): (2 * ONE_CALL, 1),
        (None,): (ONE_CALL, 0),
    }


def test_cost_attributed_signal_claims_spans_exported_after_it(flows: Served) -> None:
    check_scope(flows, "scoped-batch")


def test_cost_attributed_signal_claims_spans_exported_before_it(served: Served) -> None:
    """Simple export sends each span as it ends: before the REST signal."""
    run_script(
        FAKE_OPENAI
        + """
import os
from paid.tracing import ProcessorSettings, cost_attributed_signal, initialize_tracing, paid_tracing
from paid.tracing.wrappers.openai import PaidOpenAI

initialize_tracing(processor_settings=ProcessorSettings(export_mode="simple"))
oa = PaidOpenAI(openai_client)
with paid_tracing("scoped-simple", external_product_id="tasks"):
    ask(oa)
    ask(oa)
    cost_attributed_signal("task_done", data={"task": "t-1"},
                           base_url_override=os.environ["PAID_BASE_URL"])
    ask(oa)
done()
""",
        paid_env(served),
    )
    check_scope(served, "scoped-simple")


def test_autoinstrument_alone_and_beside_a_wrapper(served: Served) -> None:
    """OpenInference spans are priced alone, and not counted twice under a wrapper span."""
    run_script(
        FAKE_OPENAI
        + """
from paid.tracing import paid_autoinstrument, paid_tracing, signal
from paid.tracing.wrappers.openai import PaidOpenAI

paid_autoinstrument(["openai"])
with paid_tracing("auto-only", external_product_id="auto"):
    ask(openai_client)
    signal("answered", enable_cost_tracing=True)
with paid_tracing("auto-wrapped", external_product_id="auto"):
    ask(PaidOpenAI(openai_client))
    ask(PaidOpenAI(openai_client))
    signal("answered", enable_cost_tracing=True)
done()
""",
        paid_env(served),
    )
    alone = costs_of(served, "auto-only", 1)
    assert [(c["model"], Decimal(c["amount"])) for c in alone] == [
        ("gpt-4o-mini-2024-07-18", ONE_CALL)
    ]
    wrapped = costs_of(served, "auto-wrapped", 2)
    assert len(wrapped) == 2
    assert served.total(wrapped) == 2 * ONE_CALL
    assert served.report(customer="auto-wrapped", group_by="event_name") == {
        ("answered",): (2 * ONE_CALL, 1)
    }


def test_tracing_token_links_two_processes(served: Served) -> None:
    """``generate_tracing_token`` in one process, the same token in another: the second's
    cost-tracing signal claims the costs of both."""
    part = (
        FAKE_OPENAI
        + """
import os
from paid.tracing import generate_tracing_token, paid_tracing, signal
from paid.tracing.wrappers.openai import PaidOpenAI

token = int(os.environ.get("TOKEN") or generate_tracing_token())
with paid_tracing("distributed", external_product_id="flow", tracing_token=token):
    ask(PaidOpenAI(openai_client))
    signal(os.environ["EVENT"], enable_cost_tracing=os.environ["EVENT"] == "workflow_complete")
done()
print(token)
"""
    )
    token = run_script(part, paid_env(served, EVENT="part_1_complete")).strip()
    run_script(part, paid_env(served, TOKEN=token, EVENT="workflow_complete"))
    costs = costs_of(served, "distributed", 2)
    trace_id = format(int(token), "032x")
    assert {c["trace_id"] for c in costs} == {trace_id}
    signals = {s["event_name"]: s for s in served.signals(customer="distributed")}
    assert set(signals) == {"part_1_complete", "workflow_complete"}
    assert {c["signal_id"] for c in costs} == {signals["workflow_complete"]["id"]}
    trace = served.get(f"/v1/traces/{trace_id}")
    assert trace["attribution"]["event_name"] == "workflow_complete"
    assert money(trace["attribution"]["attributed_cost"]) == {"USD": 2 * ONE_CALL}
