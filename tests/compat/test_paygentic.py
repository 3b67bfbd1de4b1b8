"""paygentic-sdk 0.6.3, unmodified, against a real ``margin serve``: the seed document's
cost tracking (cost metrics with ``groupBy``, cost events with idempotency keys), billable
metrics, and the queries, with exact amounts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from compat_support import Served
from paygentic_sdk import Paygentic, errors

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
PERIOD = {"from_": T0 - timedelta(days=1), "to": T0 + timedelta(days=1)}


@pytest.fixture(scope="module")
def sdk(served: Served) -> Iterator[Paygentic]:
    with httpx.Client(timeout=30) as http:
        yield Paygentic(
            bearer_auth=served.keys["admin"],
            server_url=f"{served.url}/compat/paygentic",
            client=http,
        )


@pytest.fixture(scope="module")
def world(sdk: Paygentic) -> dict[str, str]:
    """The seed's setup: a product, two customers, a cost metric with groupBy."""
    product = sdk.products.create(
        name="Doc AI", description="extracts documents", merchant_id="m-1"
    )
    acme = sdk.customers.create(
        merchant_id="m-1",
        external_id="acme",
        consumer={"name": "Acme", "email": "ap@acme.test", "address": {"country": "US"}},
    )
    globex = sdk.customers.create(merchant_id="m-1", external_id="globex")
    metric = sdk.costs.create_cost(
        type_="metered",
        name="Enrichment cost",
        unit_cost=1,
        currency="USD",
        product_id=product.id,
        aggregation="SUM",
        event_type="cost.enrichment",
        value_property="$.amount",
        group_by={"provider": "$.provider", "operation": "$.operation"},
    )
    assert metric.unit_cost == "1"
    assert metric.group_by == {"provider": "$.provider", "operation": "$.operation"}
    return {
        "product": product.id,
        "acme": acme.customer_id,
        "globex": globex.customer_id,
        "metric": metric.id,
    }


EVENTS = [
    ("acme", {"amount": 0.0158, "provider": "clearbit", "operation": "enrich"}, "job-1"),
    ("acme", {"amount": 0.25, "provider": "aws", "operation": "ocr"}, "job-2"),
    ("globex", {"amount": 0.0042, "provider": "clearbit", "operation": "enrich"}, "job-3"),
]


def test_cost_events_with_idempotency_keys_and_a_retry_storm(
    sdk: Paygentic, world: dict[str, str], served: Served
) -> None:
    for _ in range(3):  # every event sent three times: stored once
        for who, data, key in EVENTS:
            answer = sdk.events.ingest(
                request={
                    "type": "cost.enrichment",
                    "source": "worker",
                    "subject": world[who],
                    "data": data,
                    "idempotency_key": key,
                    "timestamp": T0,
                }
            )
            assert answer.type == "cost.enrichment"
    stored = served.get("/v1/events", type="cost.enrichment")["data"]
    assert sorted(e["idempotency_key"] for e in stored) == ["job-1", "job-2", "job-3"]
    summary = sdk.costs.get_cost_summary(id=world["metric"], **PERIOD, group_by="provider")
    assert Decimal(str(summary.total_cost)) == Decimal("0.27")
    assert {g.dimensions["provider"]: Decimal(str(g.cost)) for g in summary.groups} == {
        "clearbit": Decimal("0.02"),
        "aws": Decimal("0.25"),
    }
    one = sdk.costs.get_cost_summary(id=world["metric"], **PERIOD, subject=world["globex"])
    assert Decimal(str(one.total_cost)) == Decimal("0.0042")
    windows = sdk.costs.get_cost_summary(id=world["metric"], **PERIOD, window="DAY")
    assert [Decimal(str(w.cost)) for w in windows.time_series] == [Decimal("0.27")]


def test_external_subject_and_a_cost_meter_reach_margins_cost(
    sdk: Paygentic, world: dict[str, str], served: Served
) -> None:
    sdk.events.ingest(
        request={
            "type": "cost.enrichment",
            "source": "worker",
            "external_subject": "acme",
            "data": {"amount": "1.5", "provider": "aws", "operation": "ocr"},
            "idempotency_key": "job-4",
            "timestamp": T0,
        }
    )
    by_customer = sdk.costs.get_cost_report(**PERIOD, group_by="customer")
    assert by_customer.currency == "USD"
    assert {g.label: Decimal(str(g.total_cost)) for g in by_customer.groups} == {
        "acme": Decimal("1.7658"),
        "globex": Decimal("0.0042"),
    }
    assert Decimal(str(by_customer.total_cost)) == Decimal("1.77")
    by_operation = sdk.costs.get_cost_report(**PERIOD, group_by="operation")
    assert {g.key: Decimal(str(g.total_cost)) for g in by_operation.groups} == {
        "ocr": Decimal("1.75"),
        "enrich": Decimal("0.02"),
    }
    meter = served.get(
        f"/v1/meters/{world['metric']}/query", **{"from": "2026-11-02", "to": "2026-11-04"}
    )
    assert (meter["kind"], Decimal(meter["cost"])) == ("cost", Decimal("1.77"))


def test_billable_metric_meter(sdk: Paygentic, world: dict[str, str]) -> None:
    metric = sdk.billable_metrics.create(
        aggregation="COUNT",
        description="pages",
        merchant_id="m-1",
        name="Pages",
        unit="page",
        event_type="page.processed",
        product_id=world["product"],
        group_by={"kind": "$.kind"},
    )
    assert metric.item_id is None
    for n, kind in enumerate(["pdf", "pdf", "scan"]):
        sdk.events.ingest(
            request={
                "type": "page.processed",
                "source": "ocr",
                "subject": world["acme"],
                "data": {"kind": kind},
                "idempotency_key": f"page-{n}",
                "timestamp": T0,
            }
        )
    value = sdk.billable_metrics.meter(id=metric.id, **PERIOD, group_by="kind")
    assert value.total_value == 3
    assert {g.group_by["kind"]: g.value for g in value.grouped_values} == {"pdf": 2, "scan": 1}


def test_errors_are_typed_and_unsupported_calls_named(
    sdk: Paygentic, world: dict[str, str]
) -> None:
    with pytest.raises(errors.PaygenticError) as missing:
        sdk.costs.get_cost_summary(id="cost_nope", **PERIOD)
    assert missing.value.status_code == 404
    with pytest.raises(errors.PaygenticError) as unknown:
        sdk.events.ingest(
            request={"type": "x", "source": "s", "subject": "cus_missing", "data": {}}
        )
    assert unknown.value.status_code == 400
    with pytest.raises(errors.PaygenticError) as other:
        sdk.plans.list()
    assert other.value.status_code == 404
    assert "is not supported" in str(other.value)
