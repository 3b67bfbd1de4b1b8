"""paid-python 0.6.0 (the SDK the seed documents were written against), unmodified, against a
real ``margin serve``: the seed README's examples (``Paid.trace`` with ``client.signal``,
manual cost and usage tracking through ``usage.record_bulk``, distributed tracing), and the
event loop with idempotency keys, sent three times."""

from __future__ import annotations

from decimal import Decimal

import pytest
from compat_support import FAKE_OPENAI, Served, run_script, wait_for

ONE_CALL = Decimal("0.000006975")  # gpt-4o-mini, FAKE_OPENAI's usage
DOC_USAGE_COST = Decimal("0.00058")  # gpt-4.1-mini: 100 input + 600 cached + 300 output

REST = """
import os
from paid import Paid, Signal

client = Paid(token=os.environ["PAID_API_KEY"], base_url=os.environ["PAID_BASE_URL"])
customer = client.customers.create(name="Legacy Co", external_id="legacy-co")
assert customer.name == "Legacy Co", customer
for _ in range(3):  # a retry storm: each signal stored once
    client.usage.record_bulk(signals=[
        Signal(event_name="email_sent", agent_id="legacy-sdr", customer_id="legacy-co",
               idempotency_key="manual-cost",
               data={"costData": {"vendor": "openai", "cost": {"amount": 0.002, "currency": "USD"},
                                  "gen_ai.response.model": "gpt-4o"}}),
        Signal(event_name="email_sent", agent_id="legacy-sdr", customer_id="legacy-co",
               idempotency_key="manual-usage",
               data={"costData": {"vendor": "openai", "attributes": {
                   "gen_ai.response.model": "gpt-4.1-mini", "gen_ai.usage.input_tokens": 100,
                   "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cached_input_tokens": 600}}}),
    ])
    # The seed's event loop: one signal per business event, keyed by it.
    for event in ({"type": "reply", "id": 1, "ts": "t1"}, {"type": "reply", "id": 2, "ts": "t2"}):
        client.usage.record_bulk(signals=[Signal(
            event_name="reply_processed", agent_id="legacy-sdr", customer_id="legacy-co",
            idempotency_key=f"{event['type']}_{event['id']}_{event['ts']}", data={"id": event["id"]},
        )])
"""

TRACING = """
import os
from paid import Paid
from paid.tracing.wrappers.openai import PaidOpenAI

client = Paid(token=os.environ["PAID_API_KEY"])
client.initialize_tracing()
oa = PaidOpenAI(openai_client)

def do_work():
    ask(oa, "Analyze data")
    ask(oa, "Draft a reply")
    client.signal(event_name="meeting_booked", enable_cost_tracing=True)

client.trace(external_customer_id="legacy-traced", external_agent_id="legacy-sdr", fn=lambda: do_work())

token = client.generate_tracing_token()
def part_1():
    ask(oa, "Analyze data")
    client.signal("part_1_complete", enable_cost_tracing=False)
def part_2():
    ask(oa, "Generate response")
    client.signal("workflow_complete", enable_cost_tracing=True)
for part in (part_1, part_2):
    client.trace(external_customer_id="legacy-distributed", external_agent_id="legacy-sdr",
                 tracing_token=token, fn=part)
from opentelemetry import trace as _t
from paid.tracing import tracing as _tracing
provider = getattr(_tracing, "paid_tracer_provider", None) or _t.get_tracer_provider()
if hasattr(provider, "force_flush"):
    provider.force_flush()
"""


@pytest.fixture(scope="module")
def seeded(served: Served, paid_legacy: dict[str, str]) -> Served:
    """The seed's REST and tracing examples, run once by paid-python 0.6.0."""
    run_script(
        FAKE_OPENAI.replace(
            "from paid.tracing import get_paid_tracer_provider",
            "get_paid_tracer_provider = lambda: None",
        )
        + REST.replace('os.environ["PAID_API_KEY"]', 'os.environ["PAID_ADMIN_KEY"]')
        + TRACING,
        {
            **paid_legacy,
            "PAID_ADMIN_KEY": served.keys["admin"],
            "PAID_API_KEY": served.keys["ingest"],
            "PAID_BASE_URL": f"{served.url}/compat/paid/api/v1",
            "PAID_OTEL_COLLECTOR_ENDPOINT": f"{served.url}/compat/paid/v1/traces",
        },
    )
    return served


def test_seed_manual_cost_tracking_and_event_loop(seeded: Served) -> None:
    served = seeded
    costs = served.costs(customer="legacy-co")
    assert sorted((c["priced_by"], Decimal(c["amount"])) for c in costs) == [
        ("catalog", DOC_USAGE_COST),
        ("provided", Decimal("0.002")),
    ]
    signals = served.signals(customer="legacy-co")
    assert sorted(s["idempotency_key"] for s in signals) == [
        "manual-cost",
        "manual-usage",
        "reply_1_t1",
        "reply_2_t2",
    ]
    agents = {a["external_id"] for a in served.get("/v1/agents", limit=100)["data"]}
    assert "legacy-sdr" in agents


def test_seed_trace_and_signal_with_the_key_in_the_resource(seeded: Served) -> None:
    served = seeded
    traced = wait_for(lambda: len(c := served.costs(customer="legacy-traced")) == 2 and c)
    assert traced
    [signal] = served.signals(customer="legacy-traced")
    assert signal["event_name"] == "meeting_booked"
    assert {c["signal_id"] for c in traced} == {signal["id"]}
    assert served.total(traced) == 2 * ONE_CALL
    linked = wait_for(lambda: len(c := served.costs(customer="legacy-distributed")) == 2 and c)
    assert linked
    signals = {s["event_name"]: s["id"] for s in served.signals(customer="legacy-distributed")}
    assert {c["signal_id"] for c in linked} == {signals["workflow_complete"]}
