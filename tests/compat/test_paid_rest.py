"""paid-python 1.12.0's REST client, unmodified, against a real ``margin serve``: customers,
products, contacts, signals and costs, with the amounts and attribution Margin then reports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from compat_support import Served
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors.bad_request_error import BadRequestError
from paid.errors.not_found_error import NotFoundError
from paid.types import (
    CostOverride,
    CustomerByExternalId,
    CustomerById,
    Signal,
    TokenUsage,
)
from paid.types.cost import Cost_Cost, Cost_Usage
from paid.types.product_by_external_id import ProductByExternalId

# gpt-4.1-mini in the pinned catalog: $0.40 input, $0.10 cached input, $1.60 output per 1M.
DOC_USAGE_COST = Decimal("0.00058")  # 100 input + 600 cached + 300 output tokens


@pytest.fixture(scope="module")
def paid(served: Served) -> Iterator[Paid]:
    with httpx.Client(timeout=30) as http:
        yield Paid(
            token=served.keys["admin"],
            base_url=f"{served.url}/compat/paid/api/v2",
            httpx_client=http,
        )


def test_customers_crud_by_id_and_external_id(paid: Paid) -> None:
    made = paid.customers.create_customer(
        name="Acme Inc",
        external_id="acme-crud",
        email="ap@acme.test",
        phone="+1 555",
        metadata={"tier": "gold"},
        billing_address={"line1": "1 Main St", "country": "US"},
    )
    assert (made.name, made.external_id, made.email, made.phone) == (
        "Acme Inc",
        "acme-crud",
        "ap@acme.test",
        "+1 555",
    )
    assert made.metadata == {"tier": "gold"}
    assert made.billing_address is not None
    assert made.billing_address.line1 == "1 Main St"
    assert made.status == "active"
    assert paid.customers.get_customer_by_id(made.id).external_id == "acme-crud"
    same = paid.customers.get_customer_by_external_id("acme-crud")
    assert same.id == made.id
    updated = paid.customers.update_customer_by_external_id("acme-crud", name="Acme Corp")
    assert (updated.name, updated.phone, updated.metadata) == (
        "Acme Corp",
        "+1 555",
        {"tier": "gold"},
    )
    # Creating the same external id again answers that customer (a retried create).
    again = paid.customers.create_customer(name="Acme Corp", external_id="acme-crud")
    assert again.id == made.id
    paid.customers.delete_customer_by_id(made.id)
    assert paid.customers.get_customer_by_id(made.id).status == "churned"
    with pytest.raises(NotFoundError):
        paid.customers.get_customer_by_external_id("nobody")


def test_customer_list_pages_by_limit_and_offset(paid: Paid) -> None:
    for n in range(5):
        paid.customers.create_customer(name=f"Page {n}", external_id=f"page-{n}")
    seen = []
    offset = 0
    while True:
        page = paid.customers.list_customers(limit=2, offset=offset)
        seen += [c.external_id for c in page.data]
        assert page.pagination.limit == 2
        if not page.pagination.has_more:
            break
        offset += 2
    assert {f"page-{n}" for n in range(5)} <= set(seen)
    assert len(seen) == len(set(seen)) == page.pagination.total
    only = paid.customers.list_customers(external_id="page-3")
    assert [c.name for c in only.data] == ["Page 3"]


def test_products_are_margin_agents(paid: Paid, served: Served) -> None:
    made = paid.products.create_product(
        name="AI SDR", external_id="sdr", description="books meetings", product_code="SDR-1"
    )
    assert (made.name, made.active, made.external_id) == ("AI SDR", True, "sdr")
    got = paid.products.get_product_by_external_id("sdr")
    assert got.id == made.id
    assert got.product_attributes == []
    paid.products.update_product_by_id(made.id, name="AI SDR v2")
    assert paid.products.get_product_by_id(made.id).name == "AI SDR v2"
    agents = served.get("/v1/agents", external_id="sdr")["data"]
    assert [(a["id"], a["name"]) for a in agents] == [(made.id, "AI SDR v2")]
    assert any(p.id == made.id for p in paid.products.list_products().data)


def test_contacts_belong_to_a_customer(paid: Paid) -> None:
    customer = paid.customers.create_customer(name="Contactable", external_id="contactable")
    contact = paid.contacts.create_contact(
        customer_id=customer.id,
        email="bill@c.test",
        first_name="Bill",
        last_name="Pay",
        external_id="bill-1",
        roles=["BILLING"],
    )
    assert (contact.customer_id, contact.email, contact.roles) == (
        customer.id,
        "bill@c.test",
        ["BILLING"],
    )
    assert paid.contacts.get_contact_by_external_id("bill-1").id == contact.id
    paid.contacts.update_contact_by_id(contact.id, last_name="Payer")
    assert paid.contacts.get_contact_by_id(contact.id).last_name == "Payer"
    assert [c.id for c in paid.contacts.list_contacts().data] == [contact.id]
    paid.contacts.delete_contact_by_id(contact.id)
    with pytest.raises(NotFoundError):
        paid.contacts.get_contact_by_id(contact.id)


def test_signals_bulk_with_either_reference_and_idempotency(paid: Paid, served: Served) -> None:
    customer = paid.customers.create_customer(name="Sig", external_id="sig-cust")
    product = paid.products.create_product(name="Sig agent", external_id="sig-agent")
    signals = [
        Signal(
            event_name="meeting_booked",
            customer=CustomerByExternalId(external_customer_id="sig-cust"),
            attribution=ProductByExternalId(external_product_id="sig-agent"),
            data={"lead": "l-1"},
            idempotency_key="sig-1",
        ),
        Signal(
            event_name="email_sent",
            customer=CustomerById(customer_id=customer.id),
            attribution={"product_id": product.id},
            customer_unit={"external_customer_unit_id": "team-a"},
            idempotency_key="sig-2",
        ),
    ]
    # A signal naming a unit the customer does not have fails alone, naming the field.
    with pytest.raises(BadRequestError) as refused:
        paid.signals.create_signals(signals=signals[1:])
    assert refused.value.body["field"] == "0.customerUnit.externalCustomerUnitId"
    with served.client() as margin_api:
        made = margin_api.post(f"/v1/customers/{customer.id}/units", json={"external_id": "team-a"})
        assert made.status_code == 201, made.text
    first = paid.signals.create_signals(signals=signals)
    assert (first.ingested, first.duplicates, first.failed) == (2, 0, 0)
    # A retry storm: the same signals three more times are duplicates, never stored twice.
    for _ in range(3):
        again = paid.signals.create_signals(signals=signals)
        assert (again.ingested, again.duplicates, again.failed) == (0, 2, 0)
    stored = served.signals(customer="sig-cust")
    assert sorted((s["event_name"], s["agent_id"], s["unit_id"]) for s in stored) == [
        ("email_sent", product.id, made.json()["id"]),  # Paid's customerUnit: the unit
        ("meeting_booked", product.id, None),
    ]
    listed = paid.signals.list_signals(external_customer_id="sig-cust")
    assert listed.pagination.total == 2
    one = paid.signals.get_signal_by_id(listed.data[0].id)
    assert one.external_customer_id == "sig-cust"
    assert one.external_product_id == "sig-agent"


def test_a_bad_signal_fails_alone(paid: Paid, served: Served) -> None:
    result = paid.signals.create_signals(
        signals=[
            Signal(event_name="ok", customer=CustomerByExternalId(external_customer_id="half")),
            Signal(event_name="bad", customer=CustomerById(customer_id="cus_missing")),
        ]
    )
    assert (result.ingested, result.duplicates, result.failed) == (1, 0, 1)
    assert [s["event_name"] for s in served.signals(customer="half")] == ["ok"]


def test_cost_data_in_signals_both_forms(paid: Paid, served: Served) -> None:
    signals = [
        Signal(
            event_name="email_sent",
            customer=CustomerByExternalId(external_customer_id="manual"),
            data={
                "costData": {
                    "vendor": "openai",
                    "cost": {"amount": 0.002, "currency": "USD"},
                    "gen_ai.response.model": "gpt-4o",
                }
            },
            idempotency_key="manual-cost",
        ),
        Signal(
            event_name="email_sent",
            customer=CustomerByExternalId(external_customer_id="manual"),
            data={
                "costData": {
                    "vendor": "openai",
                    "attributes": {
                        "gen_ai.response.model": "gpt-4.1-mini",
                        "gen_ai.usage.input_tokens": 100,
                        "gen_ai.usage.output_tokens": 300,
                        "gen_ai.usage.cached_input_tokens": 600,
                    },
                }
            },
            idempotency_key="manual-usage",
        ),
    ]
    for _ in range(3):
        paid.signals.create_signals(signals=signals)
    costs = served.costs(customer="manual")
    assert sorted((c["priced_by"], Decimal(c["amount"])) for c in costs) == [
        ("catalog", DOC_USAGE_COST),
        ("provided", Decimal("0.002")),
    ]
    # Each cost is attributed to the signal that carried it.
    by_key = {s["idempotency_key"]: s["id"] for s in served.signals(customer="manual")}
    assert {c["signal_id"] for c in costs} == {by_key["manual-cost"], by_key["manual-usage"]}


def test_costs_bulk_usage_override_and_cost(paid: Paid, served: Served) -> None:
    costs = [
        Cost_Usage(
            customer=CustomerByExternalId(external_customer_id="bulk"),
            product=ProductByExternalId(external_product_id="bulk-agent"),
            vendor="openai",
            model="gpt-4.1-mini",
            usage=TokenUsage(input_tokens=100, output_tokens=300, cache_read_input_tokens=600),
        ),
        Cost_Usage(
            customer=CustomerByExternalId(external_customer_id="bulk"),
            vendor="openai",
            model="gpt-4.1-mini",
            usage=TokenUsage(input_tokens=5, output_tokens=5),
            cost_override=CostOverride(amount=1.25, currency="EUR"),
        ),
        Cost_Cost(
            customer=CustomerByExternalId(external_customer_id="bulk"),
            amount=0.0158,
            currency="USD",
            vendor="serpapi",
        ),
    ]
    first = paid.costs.create_costs(costs=costs)
    assert (first.ingested, first.duplicates) == (3, 0)
    for _ in range(2):
        again = paid.costs.create_costs(costs=costs)
        assert (again.ingested, again.duplicates) == (0, 3)
    stored = served.costs(customer="bulk")
    assert sorted((c["provider"], c["priced_by"], c["amount"], c["currency"]) for c in stored) == [
        ("openai", "catalog", str(DOC_USAGE_COST), "USD"),
        ("openai", "provided", "1.25", "EUR"),
        ("serpapi", "provided", "0.0158", "USD"),
    ]
    priced = next(c for c in stored if c["priced_by"] == "catalog")
    assert priced["usage"]["cache_read_tokens"] == 600
    assert priced["agent_id"] is not None


def test_unsupported_and_unauthorized_calls_are_clear_4xx(paid: Paid, served: Served) -> None:
    with pytest.raises(ApiError) as caught:
        paid.checkouts.list_checkouts()
    assert caught.value.status_code == 404
    assert "is not supported" in caught.value.body["detail"]
    assert "/compat/paid/api/v2/checkouts" in caught.value.body["detail"]
    with httpx.Client() as http:
        stranger = Paid(
            token="mgn_admin_wrong", base_url=f"{served.url}/compat/paid/api/v2", httpx_client=http
        )
        with pytest.raises(ApiError) as denied:
            stranger.customers.list_customers()
    assert denied.value.status_code == 401


def test_plans_orders_and_invoices_map_onto_margins(paid: Paid, served: Served) -> None:
    """A product's plan (an outcome price and a monthly fee, in cents), an order of it, two
    outcomes in November: Margin's invoice, read through Paid's invoices."""
    product = paid.products.create_product(name="Billed SDR", external_id="billed-sdr")
    customer = paid.customers.create_customer(name="Billed", external_id="billed")
    plan = paid.plans.create_plan(
        product_id=product.id,
        name="SDR Pro",
        supported_currencies=["USD"],
        is_default=True,
        attributes=[
            {
                "product_attribute_id": "meetings",
                "pricing": {
                    "pricing_type": "UsagePerUnit",
                    "event_name": "meeting_booked",
                    "price_points": [{"currency": "USD", "unit_price": 2500}],
                },
            },
            {
                "product_attribute_id": "platform",
                "pricing": {
                    "pricing_type": "RecurringPerUnit",
                    "billing_frequency": "monthly",
                    "price_points": [{"currency": "USD", "unit_price": 30000}],
                },
            },
        ],
    )
    assert (plan.product_id, plan.supported_currencies, plan.is_default) == (
        product.id,
        ["USD"],
        True,
    )
    assert paid.plans.get_plan_by_id(plan.id).id == plan.id
    order = paid.orders.create_order(
        customer_id=customer.id,
        name="SDR for Billed",
        start_date=datetime(2026, 11, 1, tzinfo=UTC),
        creation_state="draft",
        lines=[{"product_id": product.id, "name": "SDR"}],
    )
    assert order.creation_state == "draft"
    assert paid.orders.activate_order_by_id(order.id).creation_state == "active"
    assert [line.product_id for line in paid.orders.get_order_lines(order.id).data] == [product.id]
    signals = [
        Signal(
            event_name="meeting_booked",
            customer=CustomerByExternalId(external_customer_id="billed"),
            attribution=ProductByExternalId(external_product_id="billed-sdr"),
            timestamp=datetime(2026, 11, day, 10, tzinfo=UTC),
            idempotency_key=f"billed-{day}",
        )
        for day in (3, 4)
    ]
    assert paid.signals.create_signals(signals=signals).ingested == 2
    with served.client() as admin:
        made = admin.post("/v1/invoices/generate", json={"period": "2026-11"})
        assert made.status_code == 200, made.text
    [invoice] = paid.invoices.list_invoices(customer_id=customer.id).data
    assert (invoice.currency, Decimal(str(invoice.invoice_total))) == ("USD", Decimal("350"))
    assert paid.invoices.get_invoice_by_id(invoice.id).amount_due == invoice.amount_due
    lines = paid.invoices.get_invoice_lines(invoice.id).data
    assert sorted(Decimal(str(line.total_price_after_tax)) for line in lines) == [
        Decimal("50"),
        Decimal("300"),
    ]
    unsupported = {
        "product_attribute_id": "x",
        "pricing": {"pricing_type": "UsageCostPlus", "cost_plus_multiplier": 1.2},
    }
    with pytest.raises(ApiError) as refused:
        paid.plans.create_plan(product_id=product.id, attributes=[unsupported])
    assert refused.value.status_code == 422
    assert "UsageCostPlus" in refused.value.body["detail"]
