"""An organization maps the attributes its agents already set (span, resource or baggage
keys) to customers and agents: ``/v1/organization/attribution``, the OTLP conversion, the
unassigned line in reports and the overview's warning; a real OpenInference instrumentor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from loopback import serve
from test_otlp import costs_of, export, gen_ai, new_trace, post, span

from margin.server.app import create_app

if TYPE_CHECKING:
    from conftest import Api

URL = "/v1/organization/attribution"
OCT = {"from": "2026-05-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"}  # around T0


def _id(api: Api, kind: str, external_id: str) -> str:
    found = api.get(f"/v1/{kind}/external/{external_id}", scope="read")
    assert found.status_code == 200, found.text
    value: str = found.json()["id"]
    return value


def test_defaults_changes_and_bad_input(api: Api) -> None:
    body = api.get(URL, scope="read").json()
    assert body == {
        "customer_keys": [],
        "agent_keys": ["service.name"],
        "builtin_customer_keys": ["margin.customer.external_id", "external_customer_id"],
        "builtin_agent_keys": ["margin.agent.external_id", "external_agent_id"],
        "updated_at": None,
    }
    changed = api.patch(URL, json={"customer_keys": [" tenant.id", "user.id"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["customer_keys"] == ["tenant.id", "user.id"]
    assert changed.json()["agent_keys"] == ["service.name"]  # absent: unchanged
    assert changed.json()["updated_at"] is not None
    bad = {
        "customer_keys.1": {"customer_keys": ["user.id", "user.id"]},
        "agent_keys.0": {"agent_keys": ["\x00x"]},
        "customer_keys": {"customer_keys": [f"k{i}" for i in range(17)]},
        "colour": {"colour": []},
    }
    for field, payload in bad.items():
        refused = api.patch(URL, json=payload)
        assert refused.status_code == 422, (field, refused.text)
        assert refused.json()["field"].startswith(field), refused.json()
    assert api.patch(URL, json={"agent_keys": []}, scope="read").status_code == 403
    assert api.get(URL, scope="read").json()["customer_keys"] == ["tenant.id", "user.id"]
    assert api.patch(URL, json={"agent_keys": []}).json()["agent_keys"] == []


def test_mapped_span_and_resource_keys_name_the_customer(api: Api) -> None:
    before = new_trace()
    assert post(api, export(span(before, gen_ai(None, **{"user.id": "u-1"}))), scope="ingest")
    [cost] = costs_of(api, before)
    assert cost["customer_id"] is None  # not mapped yet: unassigned
    api.patch(URL, json={"customer_keys": ["user.id", "tenant.id"]})
    on_span, on_resource, ours = new_trace(), new_trace(), new_trace()
    post(api, export(span(on_span, gen_ai(None, **{"user.id": 42}))), scope="ingest")
    post(
        api,
        export(span(on_resource, gen_ai(None)), resource={"tenant.id": "globex"}),
        scope="ingest",
    )
    # Margin's own key wins over a mapped one on the same span.
    post(api, export(span(ours, gen_ai("acme", **{"user.id": "u-9"}))), scope="ingest")
    assert costs_of(api, on_span)[0]["customer_id"] == _id(api, "customers", "42")
    assert costs_of(api, on_resource)[0]["customer_id"] == _id(api, "customers", "globex")
    assert costs_of(api, ours)[0]["customer_id"] == _id(api, "customers", "acme")
    # A mapped key on another span of the trace (stored earlier) names the trace's customer.
    later = span(before, gen_ai(None, **{"gen_ai.response.id": "r-2"}))
    post(api, export(later), scope="ingest")
    assert [c["customer_id"] for c in costs_of(api, before)] == [None, _id(api, "customers", "u-1")]


def test_agent_from_service_name_unless_the_trace_names_one(api: Api) -> None:
    plain, named, placeholder = new_trace(), new_trace(), new_trace()
    post(api, export(span(plain, gen_ai()), resource={"service.name": "sdr"}), scope="ingest")
    root = span(named, {"margin.agent.external_id": "closer"})
    post(
        api,
        export(root, span(named, gen_ai()), resource={"service.name": "sdr"}),
        scope="ingest",
    )
    unknown = {"service.name": "unknown_service:python"}
    post(api, export(span(placeholder, gen_ai()), resource=unknown), scope="ingest")
    assert costs_of(api, plain)[0]["agent_id"] == _id(api, "agents", "sdr")
    assert costs_of(api, named)[0]["agent_id"] == _id(api, "agents", "closer")
    assert costs_of(api, placeholder)[0]["agent_id"] is None
    api.patch(URL, json={"agent_keys": ["deployment.name"]})
    other = new_trace()
    post(api, export(span(other, gen_ai()), resource={"service.name": "sdr"}), scope="ingest")
    assert costs_of(api, other)[0]["agent_id"] is None


def test_unassigned_cost_is_its_own_line_and_an_overview_warning(api: Api) -> None:
    post(api, export(span(new_trace(), gen_ai("acme"))), scope="ingest")
    post(api, export(span(new_trace(), gen_ai(None))), scope="ingest")
    post(
        api, export(span(new_trace(), gen_ai(None, **{"gen_ai.response.id": "x"}))), scope="ingest"
    )
    params = {**OCT, "group_by": "customer"}
    rows = api.get("/v1/reports/margin", params=params, scope="read").json()["rows"]
    by_label = {r["label"]: r for r in rows}
    # gpt-4o: 200 × $2.50/M + 1000 × $1.25/M + 300 × $10/M = $0.00475 a call.
    assert by_label["Unassigned"]["key"] == {"customer": None}
    assert (by_label["Unassigned"]["cost"], by_label["Unassigned"]["records"]) == ("0.0095", 2)
    assert by_label["acme"]["cost"] == "0.00475"
    overview = api.get("/v1/reports/overview", params=OCT, scope="read").json()
    assert overview["unassigned"] == [{"currency": "USD", "cost": "0.0095", "records": 2}]


@pytest.fixture
def openinference() -> Iterator[Any]:
    """OpenInference's OpenAI instrumentor on a tracer provider of the test's own (not the
    global one), removed afterwards."""
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": "ai-sdr"}))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield provider
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def _chat_answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-oi-1",
            "object": "chat.completion",
            "created": 1780000000,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Booked."},
                }
            ],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500},
        },
    )


def test_openinference_openai_spans_land_on_the_mapped_customer(
    api: Api, openinference: Any
) -> None:
    """The real instrumentor exports over OTLP/HTTP to a real server; its ``user.id`` (set
    with ``using_user``) and the resource's ``service.name`` name the customer and agent."""
    import openai
    from openinference.instrumentation import using_user
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    api.patch(URL, json={"customer_keys": ["enduser.id", "user.id"]})
    app = create_app(api.settings, db=api.db, migrate=False)
    with serve(app) as url:
        headers = {"Authorization": api.tenant.headers("ingest")["Authorization"]}
        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=headers, timeout=30)
        openinference.add_span_processor(SimpleSpanProcessor(exporter))
        client = openai.OpenAI(
            api_key="sk-test",
            base_url="http://openai.test/v1",
            http_client=httpx.Client(transport=httpx.MockTransport(_chat_answer)),
        )
        with using_user("cust-7"):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Book a demo"}]
            )
        assert openinference.force_flush(30_000)
    listed = api.get("/v1/costs", scope="read").json()["data"]
    [cost] = listed
    assert cost["customer_id"] == _id(api, "customers", "cust-7")
    assert cost["agent_id"] == _id(api, "agents", "ai-sdr")
    # gpt-4o: 1200 input × $2.50/M + 300 output × $10/M.
    assert (cost["amount"], cost["priced_by"], cost["model"]) == (
        "0.006",
        "catalog",
        "gpt-4o-2024-08-06",
    )
    assert cost["usage"] == {"input_tokens": 1200, "output_tokens": 300}
