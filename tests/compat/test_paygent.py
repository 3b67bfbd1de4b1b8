"""paygent-sdk 4.9.7, unmodified but for ``client.base_url``, against a real ``margin serve``:
the three tracking modes of Paygent's document, ``init()`` auto-instrumentation over an
OpenAI call, external costs, and 10 threads sending in any order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from compat_support import FAKE_OPENAI, Served, run_script, wait_for

# gpt-4o: $2.50 input, $10 output per 1M tokens: 1,200 input + 400 output tokens.
DOC_USAGE = Decimal("0.007")
# gpt-4o-mini: 16 uncached + 5 cached input tokens, 7 output tokens (FAKE_OPENAI's answer).
ONE_CALL = Decimal("0.000006975")

SETUP = """
import os
from paygent_sdk import Client, UsageData

paygent = Client(api_key=os.environ["PAYGENT_API_KEY"])
paygent.base_url = os.environ["MARGIN_URL"]
usage_data = UsageData(service_provider="OpenAI", model="gpt-4o", prompt_tokens=1200,
                       completion_tokens=400, total_tokens=1600)
"""


def env(served: Served) -> dict[str, str]:
    return {"PAYGENT_API_KEY": served.keys["ingest"], "MARGIN_URL": served.url}


@pytest.fixture(scope="module")
def modes(served: Served) -> Served:
    """The document's three modes, sent once per module and store: acme-cost (cost only:
    two usages without indicator and one auto-instrumented call), acme-rev (revenue only),
    acme-full (usage with an indicator). A plan prices both indicators."""
    with served.client() as admin:
        for customer in ("acme-rev", "acme-full"):
            assert admin.post("/v1/customers", json={"external_id": customer}).status_code == 201
        plan = {
            "key": "paygent",
            "currency": "USD",
            "outcomes": [
                {"event_name": "meeting-booked", "price": "25"},
                {"event_name": "ticket-resolved", "price": "4"},
            ],
        }
        assert admin.post("/v1/plans", json=plan).status_code == 201
        for customer in ("acme-rev", "acme-full"):
            order = {"customer": customer, "plan": "paygent", "starts_at": "2026-01-01"}
            assert admin.post("/v1/orders", json=order).status_code == 201
    run_script(
        FAKE_OPENAI
        + SETUP.replace("Client(api_key=", "paygent_sdk.init(api_key=").replace(
            "from paygent_sdk import", "import paygent_sdk\nfrom paygent_sdk import"
        )
        + """
paygent.send_usage(agent_id="internal-qa-agent", customer_id="acme-cost", usage_data=usage_data)
paygent.send_usage("internal-qa-agent", "acme-cost", usage_data)  # the 3-argument style
ask_kwargs = {"paygent_agent_id": "doc-summarizer", "paygent_customer_id": "acme-cost"}
openai_client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Summarize"}], **ask_kwargs
)
paygent.send_indicator(agent_id="sales-agent", customer_id="acme-rev",
                       indicator="meeting-booked", meta_tags={"source": "crm_webhook"})
paygent.send_usage(agent_id="support-agent", customer_id="acme-full",
                   indicator="ticket-resolved", usage_data=usage_data)
""",
        env(served),
    )
    assert wait_for(lambda: len(served.costs(customer="acme-cost")) == 3)
    assert wait_for(lambda: served.signals(customer="acme-rev"))
    assert wait_for(lambda: served.costs(customer="acme-full"))
    return served


def test_cost_only_records_cost_and_no_outcome(modes: Served) -> None:
    costs = modes.costs(customer="acme-cost")
    assert sorted((c["provider"], c["model"], Decimal(c["amount"])) for c in costs) == [
        ("openai", "gpt-4o", DOC_USAGE),
        ("openai", "gpt-4o", DOC_USAGE),
        ("openai", "gpt-4o-mini", ONE_CALL),
    ]
    auto = next(c for c in costs if c["model"] == "gpt-4o-mini")
    assert auto["usage"] == {"input_tokens": 21, "cache_read_tokens": 5, "output_tokens": 7}
    assert modes.signals(customer="acme-cost") == []
    agents = {a["external_id"] for a in modes.get("/v1/agents", limit=100)["data"]}
    assert {"internal-qa-agent", "doc-summarizer"} <= agents


def test_revenue_only_records_an_outcome_and_no_cost(modes: Served) -> None:
    [signal] = modes.signals(customer="acme-rev")
    assert (signal["event_name"], signal["data"]) == (
        "meeting-booked",
        {"metaTags": {"source": "crm_webhook"}},
    )
    assert modes.costs(customer="acme-rev") == []
    [row] = modes.get("/v1/reports/margin", customer="acme-rev")["totals"]
    assert Decimal(row["revenue"]) == Decimal("25")


def test_full_tracking_attributes_the_cost_to_its_indicator(modes: Served) -> None:
    [cost] = modes.costs(customer="acme-full")
    [signal] = modes.signals(customer="acme-full")
    assert signal["event_name"] == "ticket-resolved"
    assert cost["signal_id"] == signal["id"]
    assert Decimal(cost["amount"]) == DOC_USAGE
    [row] = modes.get("/v1/reports/margin", customer="acme-full")["totals"]
    assert (Decimal(row["cost"]), Decimal(row["revenue"]), Decimal(row["profit"])) == (
        DOC_USAGE,
        Decimal("4"),
        Decimal("4") - DOC_USAGE,
    )


def test_reports_show_what_each_mode_recorded(modes: Served) -> None:
    """Paygent's document: cost-only shows no revenue, profit or margin; revenue-only shows no
    cost or margin ("not tracked" is null, never a fake zero)."""
    [cost_only] = modes.get("/v1/reports/margin", customer="acme-cost")["totals"]
    assert (cost_only["revenue"], cost_only["profit"], cost_only["margin_pct"]) == (None,) * 3
    assert Decimal(cost_only["cost"]) == 2 * DOC_USAGE + ONE_CALL
    [revenue_only] = modes.get("/v1/reports/margin", customer="acme-rev")["totals"]
    assert (revenue_only["cost"], revenue_only["profit"], revenue_only["margin_pct"]) == (None,) * 3


def test_external_cost_is_an_event_priced_by_a_cost_meter(served: Served) -> None:
    with served.client() as admin:
        meter = {
            "key": "telephony",
            "event_type": "telephony_cost",
            "aggregation": "sum",
            "value_property": "$.duration_minutes",
            "kind": "cost",
            "unit_cost": "0.02",
            "currency": "USD",
            "group_by": {"call": "$.name"},
        }
        assert admin.post("/v1/meters", json=meter).status_code == 201
    run_script(
        SETUP
        + """
from paygent_sdk import ExternalCostData
for minutes in (2.5, 4):
    paygent.send_external_cost("voice-agent", "caller", "telephony", ExternalCostData(
        name="inbound_call", external_cost_id="telephony_cost",
        properties={"duration_minutes": minutes}))
""",
        env(served),
    )
    assert wait_for(lambda: len(served.get("/v1/events", type="telephony_cost")["data"]) == 2)
    result = served.get("/v1/meters/telephony/query", group_by="call")
    assert (Decimal(result["value"]), Decimal(result["cost"])) == (Decimal("6.5"), Decimal("0.13"))


def test_ten_threads_in_any_order_lose_and_double_nothing(served: Served) -> None:
    """No keys and no timestamps: 60 identical usages and 30 outcomes for customers whose
    create-or-get races them are 60 costs and 30 signals, every one counted once."""
    run_script(
        SETUP
        + """
for n in range(30):
    customer = f"burst-{n % 6}"
    paygent.send_usage(agent_id="burst-agent", customer_id=customer, usage_data=usage_data)
    paygent.send_usage("burst-agent", customer, usage_data)
    paygent.send_indicator(agent_id="burst-agent", customer_id=customer, indicator="done")
""",
        env(served),
    )
    burst = [f"burst-{n}" for n in range(6)]
    costs = [c for b in burst for c in served.costs(customer=b)]
    signals = [s for b in burst for s in served.signals(customer=b)]
    assert (len(costs), len(signals)) == (60, 30)
    assert served.total(costs) == 60 * DOC_USAGE
    assert {len(served.costs(customer=b)) for b in burst} == {10}


def test_paygent_key_header_and_unsupported_paths(served: Served) -> None:
    import httpx

    with httpx.Client(base_url=served.url, timeout=10) as http:
        body = {"agentId": "a", "customerId": "c", "indicator": "x"}
        assert http.post("/api/v2/revenue", json=body).status_code == 401
        wrong = http.post("/api/v2/revenue", json=body, headers={"paygent-api-key": "nope"})
        assert wrong.status_code == 401
        voice = http.post(
            "/api/v1/voice/session", json={}, headers={"paygent-api-key": served.keys["ingest"]}
        )
        assert voice.status_code == 404
        assert "/api/v1/voice/session is not supported" in voice.json()["detail"]
        bad = http.post(
            "/api/v2/usage",
            json={"agentId": "a"},
            headers={"paygent-api-key": served.keys["ingest"]},
        )
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
