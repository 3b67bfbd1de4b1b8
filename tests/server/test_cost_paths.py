"""Every way into a cost stores the same row: a cost posted to ``/v1/costs`` and the same call
recorded as an OTLP GenAI span (through the converter) are validated, priced and stored
identically (hypothesis, both stores). And sums of many tiny amounts stay exact through HTTP.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import func, select
from test_otlp import PB, export, new_span, span

from margin._money import from_nanos
from margin.store.schema import cost_rollups, costs
from margin_testing import Api

T0_US = 1_780_000_000_000_000  # 2026-05-28, as microseconds
_COMPARED = (
    "customer_id",
    "agent_id",
    "signal_id",
    "trace_id",
    "span_id",
    "provider",
    "model",
    "operation",
    "usage",
    "amount_nanos",
    "currency",
    "priced_by",
    "price_ref",
    "unpriced_reason",
    "ts",
)

amounts = st.one_of(
    st.decimals(min_value=0, max_value=10**9, places=9, allow_nan=False),
    st.decimals(min_value=0, max_value=1, places=12, allow_nan=False),
).map(lambda d: format(d, "f"))
# Canonical usage as both conventions read it: input tokens include the cache reads. (With
# fewer input than cached tokens, a span's counts are read as excluding the cache, as some
# instrumentations report them, while the API's canonical usage refuses them as unpriced.)
usages = st.fixed_dictionaries(
    {"input_tokens": st.integers(1, 10**7)},
    optional={
        "output_tokens": st.integers(1, 10**6),
        "cache_read_tokens": st.integers(1, 10**6),
    },
).map(lambda u: {**u, "input_tokens": u["input_tokens"] + u.get("cache_read_tokens", 0)})
calls = st.fixed_dictionaries(
    {
        "customer": st.sampled_from(["acme", "globex"]),
        "provider": st.sampled_from(["openai", "anthropic", "nobody"]),
        "model": st.sampled_from(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "house-1"]),
        "operation": st.sampled_from(["chat", "embeddings"]),
        "at_us": st.integers(0, 10**10),
        "priced": st.one_of(
            st.tuples(amounts, st.sampled_from(["USD", "EUR"])), usages.map(lambda u: (u,))
        ),
    },
)
# One agent (or none) for all the calls of a trace: an OTLP span without one inherits the
# agent another span of its trace names, which a REST cost does not.
agents = st.sampled_from([None, "sdr", "support"])

_SPAN_USAGE = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
}


def _rest_item(call: dict[str, Any], trace: str, span_id: str) -> dict[str, Any]:
    item = {
        "customer": call["customer"],
        "trace_id": trace,
        "span_id": span_id,
        "provider": call["provider"],
        "model": call["model"],
        "operation": call["operation"],
        "timestamp": _rfc3339(T0_US + call["at_us"]),
        "idempotency_key": f"rest-{span_id}",
    }
    if call.get("agent"):
        item["agent"] = call["agent"]
    if len(call["priced"]) == 2:
        item["amount"], item["currency"] = call["priced"]
    else:
        item["usage"] = call["priced"][0]
    return item


def _span_attributes(call: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.provider.name": call["provider"],
        "gen_ai.request.model": call["model"],
        "gen_ai.operation.name": call["operation"],
        "margin.customer.external_id": call["customer"],
    }
    if call.get("agent"):
        attributes["margin.agent.external_id"] = call["agent"]
    if len(call["priced"]) == 2:
        amount, currency = call["priced"]
        attributes["gen_ai.usage.cost.amount"] = amount
        attributes["gen_ai.usage.cost.currency"] = currency
    else:
        for key, value in call["priced"][0].items():
            attributes[_SPAN_USAGE[key]] = value
    return attributes


def _rfc3339(micros: int) -> str:
    seconds, fraction = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:06d}Z"


def _rows(api: Api, trace: str) -> dict[str, dict[str, list[Any]]]:
    with api.db.read() as conn:
        rows = conn.execute(select(costs).where(costs.c.trace_id == trace)).all()
    by_source: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        values = row._mapping
        by_source.setdefault(values["source"], {})[values["span_id"]] = [
            values[c] for c in _COMPARED
        ]
    return by_source


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(calls, min_size=1, max_size=4), agent=agents)
def test_a_rest_cost_and_the_same_otlp_span_store_identical_rows(
    api: Api, batch: list[dict[str, Any]], agent: str | None
) -> None:
    trace = uuid.uuid4().hex
    span_ids = [new_span() for _ in batch]
    batch = [{**call, "agent": agent} for call in batch]
    items = [_rest_item(c, trace, s) for c, s in zip(batch, span_ids, strict=True)]
    rest = api.post("/v1/costs", json={"items": items}, scope="ingest").json()
    refused = {f["index"]: f["field"] for f in rest["failed"]}
    spans = []
    for call, span_id in zip(batch, span_ids, strict=True):
        recorded = span(trace, _span_attributes(call), span_id=span_id)
        recorded.end_time_unix_nano = (T0_US + call["at_us"]) * 1000
        spans.append(recorded)
    otlp = api.post("/v1/traces", content=export(*spans).SerializeToString(), headers=PB)
    assert otlp.status_code == 200
    answer = ExportTraceServiceResponse.FromString(otlp.content).partial_success
    # The same items refused, for the same field (read from the amount attribute).
    assert answer.rejected_spans == len(refused)
    for index, field in refused.items():
        assert f"cost of span {span_ids[index]}: gen_ai.usage.cost.{field}:" in (
            answer.error_message
        )
    stored = _rows(api, trace)
    assert stored.get("api", {}) == stored.get("otlp", {})
    assert len(stored.get("api", {})) == len(batch) - len(refused)


def test_many_tiny_costs_sum_exactly_through_http(api: Api) -> None:
    # The property itself (a million nano-amounts) is proven in test_money.py; through the
    # API, 20,000 costs of 0.0000001 in two batches must add up to exactly 0.002.
    item = {"customer": "acme", "amount": "0.0000001", "currency": "USD"}
    for start in (0, 10_000):
        batch = [{**item, "idempotency_key": f"c{start + i}"} for i in range(10_000)]
        answer = api.post("/v1/costs", json={"items": batch}, scope="ingest")
        assert answer.json()["ingested"] == 10_000
    with api.db.read() as conn:
        stored = conn.execute(select(func.sum(costs.c.amount_nanos))).scalar_one()
        rolled = conn.execute(select(func.sum(cost_rollups.c.amount_nanos))).scalar_one()
    assert from_nanos(int(stored)) == Decimal("0.002")
    assert from_nanos(int(rolled)) == Decimal("0.002")
    report = api.get("/v1/reports/summary", params={"from": "2000-01-01"}, scope="read").json()
    assert report["totals"] == [{"currency": "USD", "cost": "0.002"}]
