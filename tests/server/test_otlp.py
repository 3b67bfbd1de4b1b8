"""``POST /v1/traces``: OTLP protobuf, JSON and gzip bodies built with the real
``opentelemetry-proto`` classes; spans → costs (priced or provided) and signals, exactly once."""

from __future__ import annotations

import base64
import gzip
import os
from typing import TYPE_CHECKING, Any

import orjson
from google.protobuf.json_format import MessageToDict
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from margin.store.keys import create_key, create_org

if TYPE_CHECKING:  # at runtime ``conftest`` may name another directory's conftest module
    from conftest import Api

PB = {"Content-Type": "application/x-protobuf"}
T0 = 1_780_000_000_000_000_000  # a fixed time (2026) in Unix nanoseconds


def new_trace() -> str:
    return os.urandom(16).hex()


def new_span() -> str:
    return os.urandom(8).hex()


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def attrs(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in values.items()]


def span(
    trace_id: str,
    attributes: dict[str, Any],
    *,
    name: str = "chat gpt-4o",
    span_id: str | None = None,
    parent: str | None = None,
    at: int = 0,
) -> Span:
    """A finished span; ``at`` offsets its start/end in milliseconds from T0."""
    return Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id or new_span()),
        parent_span_id=bytes.fromhex(parent) if parent else b"",
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=T0 + at * 1_000_000,
        end_time_unix_nano=T0 + at * 1_000_000 + 500_000,
        attributes=attrs(attributes),
    )


def export(*spans: Span, resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=attrs(resource or {})),
                scope_spans=[ScopeSpans(spans=list(spans))],
            )
        ]
    )


def gen_ai(customer: str | None = "acme", **extra: Any) -> dict[str, Any]:
    """Attributes of a GenAI chat span (OTel semconv), for ``customer``."""
    values: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 1000,
    }
    if customer:
        values["margin.customer.external_id"] = customer
    values.update(extra)
    return values


def signal_attrs(event: str, customer: str = "acme", tracing: bool = True) -> dict[str, Any]:
    return {
        "margin.signal.event_name": event,
        "margin.signal.cost_tracing": tracing,
        "margin.signal.data": '{"deal": 1}',
        "margin.customer.external_id": customer,
    }


def post(api: Api, request: ExportTraceServiceRequest, **kw: Any) -> Any:
    return api.post("/v1/traces", content=request.SerializeToString(), headers=PB, **kw)


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP JSON: protobuf's JSON mapping with hex (not base64) trace and span ids."""
    data = MessageToDict(request)
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in sp:
                        sp[key] = base64.b64decode(sp[key]).hex()
    return orjson.dumps(data)


def other_tenant(api: Api) -> dict[str, str]:
    """Read-key headers of a second organization."""
    with api.db.write() as conn:
        org_id = create_org(conn, "other")
        _key, secret = create_key(conn, org_id, "read")
    return {"Authorization": f"Bearer {secret}"}


def costs_of(api: Api, trace_id: str) -> list[dict[str, Any]]:
    body = api.get("/v1/costs", params={"trace_id": trace_id}, scope="read").json()
    data: list[dict[str, Any]] = body["data"]
    return data


def test_protobuf_export_stores_spans_and_a_catalog_priced_cost(api: Api) -> None:
    trace = new_trace()
    sid = new_span()
    response = post(api, export(span(trace, gen_ai(), span_id=sid)), scope="ingest")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    [cost] = costs_of(api, trace)
    # gpt-4o: 200 uncached × $2.50/M + 1000 cache reads × $1.25/M + 300 output × $10/M.
    assert cost["amount"] == "0.00475"
    assert cost["priced_by"] == "catalog"
    assert cost["currency"] == "USD"
    assert (cost["provider"], cost["model"], cost["operation"]) == ("openai", "gpt-4o", "chat")
    assert cost["usage"] == {"input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 1000}
    assert cost["span_id"] == sid
    assert cost["source"] == "otlp"
    assert cost["customer_id"] is not None
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    assert [s["span_id"] for s in view["spans"]] == [sid]


def test_json_and_gzip_bodies(api: Api) -> None:
    trace = new_trace()
    provided = gen_ai(**{"gen_ai.usage.cost.amount": "0.0123", "gen_ai.usage.cost.currency": "EUR"})
    first = export(span(trace, provided))
    response = api.post(
        "/v1/traces",
        content=otlp_json(first),
        headers={"Content-Type": "application/json"},
        scope="ingest",
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    second = export(span(trace, gen_ai(**{"gen_ai.usage.cost.amount": 0.5})))
    zipped = api.post(
        "/v1/traces",
        content=gzip.compress(second.SerializeToString()),
        headers={**PB, "Content-Encoding": "gzip"},
        scope="ingest",
    )
    assert zipped.status_code == 200
    amounts = sorted((c["amount"], c["currency"], c["priced_by"]) for c in costs_of(api, trace))
    assert amounts == [("0.0123", "EUR", "provided"), ("0.5", "USD", "provided")]


def test_duplicate_export_is_stored_once(api: Api) -> None:
    trace = new_trace()
    request = export(span(trace, gen_ai()), span(trace, signal_attrs("won"), name="margin.signal"))
    assert post(api, request, scope="ingest").status_code == 200
    assert post(api, request, scope="ingest").status_code == 200
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    assert len(view["spans"]) == 2
    assert len(view["costs"]) == 1
    assert len(view["signals"]) == 1


def test_double_instrumented_call_is_one_cost_in_one_request(api: Api) -> None:
    trace, wrapper = new_trace(), new_span()
    ours = span(
        trace,
        gen_ai(**{"gen_ai.response.id": "chatcmpl-1", "margin.instrumentation": "margin"}),
        span_id=wrapper,
    )
    native = span(trace, gen_ai(**{"gen_ai.response.id": "chatcmpl-1"}), parent=wrapper)
    # The native span comes first in the request: the wrapper is still the one kept.
    assert post(api, export(native, ours), scope="ingest").status_code == 200
    [cost] = costs_of(api, trace)
    assert cost["span_id"] == wrapper
    assert cost["response_id"] == "chatcmpl-1"


def test_double_instrumented_call_is_one_cost_across_requests(api: Api) -> None:
    trace, wrapper = new_trace(), new_span()
    native = span(trace, gen_ai(**{"gen_ai.response.id": "msg_1"}), parent=wrapper, at=1)
    ours = span(
        trace,
        gen_ai(**{"gen_ai.response.id": "msg_1", "margin.instrumentation": "margin"}),
        span_id=wrapper,
        at=2,
    )
    assert post(api, export(native), scope="ingest").status_code == 200
    later = post(api, export(ours), scope="ingest")
    assert later.status_code == 200
    assert not ExportTraceServiceResponse.FromString(later.content).HasField("partial_success")
    assert len(costs_of(api, trace)) == 1
    assert len(api.get(f"/v1/traces/{trace}", scope="read").json()["spans"]) == 2


def test_nested_span_of_the_same_call_without_response_id(api: Api) -> None:
    trace, wrapper = new_trace(), new_span()
    paid_wrapper = {
        "external_customer_id": "acme",
        "gen_ai.system": "openai",
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 21,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.cached_input_tokens": 5,
    }
    openinference = {
        "external_customer_id": "acme",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 21,
        "llm.token_count.completion": 7,
        "llm.token_count.prompt_details.cache_read": 5,
        "llm.token_count.total": 28,
    }
    other_call = {**openinference, "llm.token_count.completion": 9}
    request = export(
        span(
            trace, paid_wrapper, name="paid.trace.openai.chat.completions.create", span_id=wrapper
        ),
        span(trace, openinference, name="paid.trace.ChatCompletion", parent=wrapper),
        span(trace, other_call, name="paid.trace.ChatCompletion"),
    )
    assert post(api, request, scope="ingest").status_code == 200
    found = costs_of(api, trace)
    assert sorted(c["usage"]["output_tokens"] for c in found) == [7, 9]
    assert {c["span_id"] for c in found if c["usage"]["output_tokens"] == 7} == {wrapper}


def test_customer_is_inherited_from_the_resource_or_the_trace(api: Api) -> None:
    trace = new_trace()
    root = span(trace, {"margin.customer.external_id": "globex", "margin.agent.external_id": "sdr"})
    child = span(trace, gen_ai(customer=None))
    assert post(api, export(root, child), scope="ingest").status_code == 200
    later = span(trace, gen_ai(customer=None, **{"gen_ai.response.id": "r2"}))
    assert post(api, export(later), scope="ingest").status_code == 200
    elsewhere = new_trace()
    resourced = export(
        span(elsewhere, gen_ai(customer=None)), resource={"external_customer_id": "globex"}
    )
    assert post(api, resourced, scope="ingest").status_code == 200
    customer = api.get("/v1/customers/external/globex", scope="read").json()
    agent = api.get("/v1/agents/external/sdr", scope="read").json()
    found = costs_of(api, trace) + costs_of(api, elsewhere)
    assert [c["customer_id"] for c in found] == [customer["id"]] * 3
    assert [c["agent_id"] for c in costs_of(api, trace)] == [agent["id"]] * 2


def test_cost_without_customer_is_kept_and_bad_spans_are_partial_success(api: Api) -> None:
    trace = new_trace()
    nobody = span(new_trace(), signal_attrs("orphan"), name="margin.signal")
    nobody.ClearField("attributes")
    nobody.attributes.extend(attrs({"margin.signal.event_name": "orphan"}))
    bad_amount = span(
        new_trace(), {"gen_ai.usage.cost.amount": "lots", "margin.customer.external_id": "a"}
    )
    request = export(span(trace, gen_ai(customer=None)), nobody, bad_amount)
    response = post(api, request, scope="ingest")
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 2
    assert "signal has no customer" in partial.error_message
    assert "gen_ai.usage.cost.amount" in partial.error_message
    [cost] = costs_of(api, trace)
    assert cost["customer_id"] is None
    assert cost["priced_by"] == "catalog"


def test_prompts_are_dropped_unless_store_prompt(api: Api) -> None:
    trace = new_trace()
    content = {
        "gen_ai.input.messages": "[secret]",
        "input.value": "secret",
        "llm.input_messages.0.message.content": "s",
    }
    plain = span(trace, gen_ai(**content), name="plain")
    kept = span(trace, gen_ai(**content, **{"margin.store_prompt": True}), name="kept")
    assert post(api, export(plain, kept), scope="ingest").status_code == 200
    spans = {
        s["name"]: s["attributes"]
        for s in api.get(f"/v1/traces/{trace}", scope="read").json()["spans"]
    }
    assert not set(content) & set(spans["plain"])
    assert set(content) <= set(spans["kept"])
    assert spans["plain"]["gen_ai.usage.input_tokens"] == 1200


def test_bad_bodies_change_nothing(api: Api) -> None:
    garbage = api.post("/v1/traces", content=b"\x0a\xff\xff\xff\xff", headers=PB, scope="ingest")
    assert garbage.status_code == 400
    assert garbage.headers["content-type"] == "application/x-protobuf"
    assert Status.FromString(garbage.content).code == 3
    bad_json = api.post(
        "/v1/traces", content=b"{nope", headers={"Content-Type": "application/json"}, scope="ingest"
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["field"] == "body"
    bad_id = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]}
    hexless = api.post("/v1/traces", json=bad_id, scope="ingest")
    assert hexless.status_code == 400
    assert hexless.json()["field"] == "resourceSpans.0.scopeSpans.0.spans.0.traceId"
    truncated = api.post(
        "/v1/traces",
        content=gzip.compress(export(span(new_trace(), gen_ai())).SerializeToString())[:-9],
        headers={**PB, "Content-Encoding": "gzip"},
        scope="ingest",
    )
    assert truncated.status_code == 400
    wrong = api.post(
        "/v1/traces", content=b"x", headers={"Content-Type": "text/plain"}, scope="ingest"
    )
    assert wrong.status_code == 415
    assert wrong.json()["field"] == "content-type"
    assert api.get("/v1/costs", scope="read").json()["data"] == []
    assert api.get("/v1/traces", scope="read").json()["data"] == []


def test_ingest_scope_and_tenant_isolation(api: Api) -> None:
    trace = new_trace()
    request = export(span(trace, gen_ai()))
    assert post(api, request, scope="read").status_code == 403
    assert (
        api.client.post("/v1/traces", content=request.SerializeToString(), headers=PB).status_code
        == 401
    )
    assert post(api, request, scope="ingest").status_code == 200
    other = other_tenant(api)
    theirs = api.client.get(f"/v1/traces/{trace}", headers=other)
    assert theirs.status_code == 404
    assert api.client.get("/v1/costs", headers=other).json()["data"] == []
