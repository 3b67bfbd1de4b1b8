"""Every method of the REST client against a real server (uvicorn on 127.0.0.1) and store,
on both stores: each answer is checked, and every operation the client declares is called."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from margin import AsyncMargin, Margin
from margin.sdk._operations import OPERATIONS
from margin.sdk.errors import BadRequestError, NotFoundError
from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin_testing import Tenant, free_port

TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def server(db: Database, tenant: Tenant, settings: Settings) -> Iterator[str]:
    """The app on a real uvicorn server over the store under test; yields its URL."""
    app = create_app(settings, db=db, migrate=False)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        assert thread.is_alive(), "the server stopped"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=20)


@pytest.fixture
def client(server: str, tenant: Tenant) -> Iterator[tuple[Margin, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    hooks = {"request": [lambda r: seen.append((r.method, r.url.raw_path.decode()))]}
    with Margin(
        tenant.keys["admin"], server, http_client=httpx.Client(event_hooks=hooks)
    ) as margin:
        yield margin, seen


def _template(op_path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/?]+", re.escape(op_path)) + r"(\?|$)")


def _unused(seen: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Literal paths first: /v1/prices/quote is not /v1/prices/{override_id}.
    ops = sorted(OPERATIONS, key=lambda op: op.path.count("{"))
    hit: set[tuple[str, str]] = set()
    for method, path in seen:
        for op in ops:
            if op.method == method and _template(op.path).match(path):
                hit.add((op.method, op.path))
                break
    return sorted({(op.method, op.path) for op in OPERATIONS} - hit)


def _parties_and_billing(m: Margin) -> dict[str, Any]:
    acme = m.customers.create("acme", name="Acme", currency="USD")
    assert m.customers.update(acme["id"], email="ap@acme.test")["email"] == "ap@acme.test"
    assert m.customers.get(acme["id"])["name"] == "Acme"
    assert m.customers.get_by_external_id("acme")["id"] == acme["id"]
    gone = m.customers.create("gone")
    assert m.customers.archive(gone["id"])["archived_at"] is not None
    assert [c["external_id"] for c in m.customers.list(tracking_mode="auto")["data"]] == ["acme"]
    sdr = m.agents.create("sdr", name="SDR")
    assert m.agents.update(sdr["id"], description="books meetings")["description"]
    assert m.agents.get(sdr["id"])["external_id"] == "sdr"
    assert m.agents.get_by_external_id("sdr")["id"] == sdr["id"]
    old = m.agents.create("old")
    m.agents.archive(old["id"])
    assert [a["external_id"] for a in m.agents.list(include_archived=True)["data"]] == [
        "sdr",
        "old",
    ]
    meter = m.meters.create("tokens", "llm", "sum", value_property="$.tokens")
    assert meter["key"] == "tokens"
    m.meters.replace("tokens", "llm", "sum", value_property="$.tokens", name="Tokens")
    assert m.meters.get("tokens")["name"] == "Tokens"
    m.meters.create("tmp", "other", "count")
    m.meters.delete("tmp")
    assert [x["key"] for x in m.meters.list()["data"]] == ["tokens"]
    outcomes = [{"event_name": "meeting_booked", "price": "25"}]
    fees = [{"key": "platform", "amount": "300", "name": "Platform"}]
    plan = m.plans.create("sdr-pro", "USD", agent="sdr", outcomes=outcomes, fees=fees)
    assert m.plans.get("sdr-pro")["id"] == plan["id"]
    assert [p["key"] for p in m.plans.list()["data"]] == ["sdr-pro"]
    order = m.orders.create("acme", "sdr-pro", "2026-10-01")
    assert m.orders.get(order["id"])["plan_id"] == plan["id"]
    assert m.orders.end(order["id"], "2027-01-01T00:00:00Z")["ends_at"].startswith("2027-01-01")
    assert [o["id"] for o in m.orders.list(customer="acme")["data"]] == [order["id"]]
    return acme


def _facts(m: Margin) -> None:
    at = "2026-10-05T10:00:00Z"
    kw: dict[str, Any] = {"customer": "acme", "agent": "sdr", "timestamp": at}
    assert (
        m.signals.create("meeting_booked", trace_id=TRACE, cost_tracing=True, **kw)["ingested"] == 1
    )
    cost = {"amount": Decimal("1.250000001"), "currency": "USD", "trace_id": TRACE}
    assert m.costs.create(provider="openai", model="gpt-4o", **cost, **kw)["ingested"] == 1
    assert m.costs.create_batch([{"amount": "0.5", "currency": "USD", **kw}])["ingested"] == 1
    event = {"customer": "acme", "timestamp": at, "data": {"tokens": 1200}}
    assert m.events.create("llm", **event)["ingested"] == 1
    assert m.events.create_batch([{"type": "llm", **event}], dedupe="none")["ingested"] == 1
    assert m.signals.create_batch([{"event_name": "email_sent", **kw}])["ingested"] == 1
    signals = m.signals.list(event_name="meeting_booked")["data"]
    assert m.signals.get(signals[0]["id"])["attributed_cost"] == {"USD": "1.250000001"}
    amounts = sorted(c["amount"] for c in m.costs.list(customer="acme", limit=10)["data"])
    assert amounts == ["0.5", "1.250000001"]
    assert len(m.events.list(type="llm")["data"]) == 2
    assert m.traces.export({"resourceSpans": []}) == {}
    assert m.traces.get(TRACE)["trace_id"] == TRACE
    assert m.traces.list(flagged=True, from_="2026-10-01", to="2026-11-01")["data"] == []
    month = {"from_": "2026-10-01", "to": "2026-11-01"}
    assert m.meters.query("tokens", **month)["value"] == "2400"
    summary = m.reports.summary(**month)["rows"]
    assert [(r["label"], r["cost"], r["revenue"]) for r in summary] == [
        ("Acme", "1.750000001", "325")
    ]
    margin = m.reports.margin(**month, group_by=["customer"], customer="acme")["rows"]
    assert [(r["cost_by_source"]["ai"], r["profit"]) for r in margin] == [
        ("1.250000001", "323.249999999")
    ]
    assert m.reports.margin_csv(**month).splitlines()[1].startswith(b"All,USD,1.750000001,325,")
    per = m.reports.cost_per_outcome("meeting_booked", **month)["rows"]
    assert [(r["outcomes"], r["cost_per_outcome"]) for r in per] == [(1, "1.250000001")]
    unit = m.reports.unit_economics(**month)["rows"]
    assert [r["cost_per_outcome"] for r in unit] == ["0.875"]
    assert m.reports.overview(**month)["totals"][0]["profit"] == "323.249999999"
    # One currency recorded: the original-currency answers carry the same figures.
    split = m.reports.cost_per_outcome("meeting_booked", **month, by_currency=True)
    assert [(r["currency"], r["cost_per_outcome"]) for r in split["rows"]] == [
        ("USD", "1.250000001")
    ]
    assert "rates" not in split
    assert m.reports.margin(**month, by_currency=True)["totals"][0]["profit"] == "323.249999999"


def _invoices_prices_rates(m: Margin) -> None:
    drafts = m.invoices.generate("2026-10", customers=["acme"])["data"]
    assert [d["total"] for d in drafts] == ["325"]
    invoice_id = drafts[0]["id"]
    assert m.invoices.list(period="2026-10")["data"][0]["id"] == invoice_id
    assert m.invoices.get(invoice_id)["status"] == "draft"
    assert b"Platform" in m.invoices.html(invoice_id, internal=True)
    sink = io.BytesIO()
    assert m.invoices.html(invoice_id, sink=sink) == b""
    assert b"Platform" in sink.getvalue()
    assert m.invoices.pdf(invoice_id).startswith(b"%PDF")
    simulated = m.plans.simulate("sdr-pro", "2026-10")
    assert [t["actual"]["revenue"] for t in simulated["totals"]] == [
        t["candidate"]["revenue"] for t in simulated["totals"]
    ]
    assert m.invoices.finalize(invoice_id)["number"] == "INV-2026-0001"
    assert m.invoices.void(invoice_id, "sent twice")["status"] == "void"
    override = m.prices.create("openai", "gpt-4o", {"input": Decimal("2.5")})
    assert m.prices.get(override["id"])["prices"] == {"input": "2.5"}
    assert [o["id"] for o in m.prices.list(provider="openai")["data"]] == [override["id"]]
    covered = m.prices.coverage("gpt-4o", provider="openai")["data"]
    assert [(c["provider"], c["model"]) for c in covered] == [("openai", "gpt-4o")]
    catalog = m.prices.catalog("gpt-4o", provider="openai")
    assert catalog["ref"] == "genai-prices@0.2.3:openai/gpt-4o"
    quoted = m.prices.quote("gpt-4o", {"input_tokens": 1_000_000}, provider="openai")
    assert (quoted["amount"], quoted["priced_by"]) == ("2.5", "override")
    assert m.prices.quote_query("gpt-4o", {"input_tokens": 2_000_000})["amount"] == "5"
    m.prices.delete(override["id"])
    assert m.organization.update(display_name="Acme Inc")["display_name"] == "Acme Inc"
    assert m.organization.get()["reporting_currency"] == "USD"
    assert m.exchange_rates.set("EUR", "USD", "2026-10-01", Decimal("1.1"))["rate"] == "1.1"
    assert m.exchange_rates.get("EUR", "USD", "2026-10-01")["rate"] == "1.1"
    rates = [{"date": "2026-10-02", "base": "EUR", "quote": "USD", "rate": Decimal("1.2")}]
    assert m.exchange_rates.set_many(rates)["created"] == 1
    csv_file = b"date,base,quote,rate\n2026-10-03,EUR,USD,1.3\n"
    assert m.exchange_rates.import_file(csv_file, format="csv")["rates"] == 1
    assert len(m.exchange_rates.list(base="EUR")["data"]) == 3
    assert m.exchange_rates.convert("10", "EUR", to="USD", at="2026-10-02")["amount"] == "12"
    m.exchange_rates.delete("EUR", "USD", "2026-10-01")
    with pytest.raises(NotFoundError):
        m.exchange_rates.get("EUR", "USD", "2026-10-01")


def _control(m: Margin, acme: str) -> None:
    feature = {"backed_by": "signals", "event_name": "meeting_booked"}
    assert m.features.create("meetings", credit_currency="meetings", **feature)["key"] == "meetings"
    assert m.features.get("meetings")["event_name"] == "meeting_booked"
    assert [f["key"] for f in m.features.list()["data"]] == ["meetings"]
    m.entitlements.set(acme, "meetings", limit=10, period="month")
    assert [e["feature"] for e in m.entitlements.list(acme)["data"]] == ["meetings"]
    by_id = m.entitlements.check(acme, "meetings")
    assert m.entitlements.check_by_external_id("acme", "meetings") == by_id
    m.entitlements.remove(acme, "meetings")
    unit = m.entitlements.add_unit(acme, "team-a", name="Team A")
    assert m.entitlements.unit(acme, "team-a")["id"] == unit["id"]
    assert [u["external_id"] for u in m.entitlements.units(acme)["data"]] == ["team-a"]
    assert m.entitlements.update_unit(acme, "team-a", external_type="team")["external_type"] == (
        "team"
    )
    m.entitlements.set_unit_cap(acme, "team-a", "50", "meetings")
    assert m.entitlements.unit_cap(acme, "team-a")["cap"]["amount"] == "50"
    m.entitlements.remove_unit_cap(acme, "team-a")
    m.entitlements.remove_unit(acme, "team-a")
    grant = {"effective_at": "2026-10-01T00:00:00Z"}
    assert m.credits.grant(acme, "meetings", Decimal("100"), **grant)["amount"] == "100"
    assert len(m.credits.grants(acme)["data"]) == 1
    assert m.credits.balances(acme)["data"] is not None
    assert m.credits.ledger(acme, currency="meetings")["data"] is not None
    rule = {"credit_currency": "meetings", "customer": "acme", "direction": "below"}
    m.alerts.create_rule("low", "balance", thresholds=["20%"], **rule)
    assert [r["name"] for r in m.alerts.rules()["data"]] == ["low"]
    assert m.alerts.list(state="triggered")["data"] == []
    endpoint = m.webhooks.create_endpoint("https://hooks.example.test/margin")
    assert endpoint["secret"]
    assert m.webhooks.get_endpoint(endpoint["id"])["url"] == "https://hooks.example.test/margin"
    assert m.webhooks.rotate_secret(endpoint["id"])["secret"] != endpoint["secret"]
    assert m.webhooks.set_enabled(endpoint["id"], False)["enabled"] is False
    assert len(m.webhooks.endpoints()["data"]) == 1
    assert m.webhooks.deliveries(endpoint_id=endpoint["id"])["data"] is not None
    with pytest.raises(NotFoundError):
        m.webhooks.replay("whd_missing")


def test_every_client_method_against_the_api(
    client: tuple[Margin, list[tuple[str, str]]],
) -> None:
    m, seen = client
    acme = _parties_and_billing(m)
    _control(m, acme["id"])
    _facts(m)
    _invoices_prices_rates(m)
    body = m.exports.download("costs", "2026-10-01", "2026-11-01", format="jsonl")
    rows = [orjson.loads(line) for line in body.splitlines()]
    assert sorted((r["amount"], r["customer"], r["agent"]) for r in rows) == [
        ("0.5", "acme", "sdr"),
        ("1.250000001", "acme", "sdr"),
    ]
    assert {r["ts"] for r in rows} == {"2026-10-05T10:00:00Z"}
    with pytest.raises(BadRequestError) as bad:
        m.exports.download("costs", "2026-10-01", "2026-09-01")
    assert bad.value.problem["field"] == "end"
    _keys_and_system(m)
    assert _unused(seen) == []


def _keys_and_system(m: Margin) -> None:
    created = m.keys.create("read", name="reports")
    assert created["scope"] == "read"
    assert created["id"] in [k["id"] for k in m.keys.list()["data"]]
    assert m.keys.revoke(created["id"])["revoked_at"] is not None
    mapping = m.organization.update_attribution(customer_keys=["enduser.id"])
    assert mapping["customer_keys"] == ["enduser.id"]
    assert m.organization.attribution()["customer_keys"] == ["enduser.id"]
    assert m.system.health()["mode"] == "direct"
    with pytest.raises(NotFoundError):  # not in queue mode
        m.system.dead_letters(limit=10)


async def test_the_async_client_shares_the_methods(server: str, tenant: Tenant) -> None:
    async with AsyncMargin(tenant.keys["admin"], server) as m:
        created = await m.customers.create("acme", currency="USD")
        assert (await m.customers.get_by_external_id("acme"))["id"] == created["id"]
        cost = {"customer": "acme", "timestamp": "2026-10-05T10:00:00Z", "currency": "USD"}
        assert (await m.costs.create(amount=Decimal("0.000000001"), **cost))["ingested"] == 1
        csv_body = await m.exports.download("costs", "2026-10-01", "2026-11-01")
        assert csv_body.splitlines()[1].split(b",")[13] == b"0.000000001"
        sink = io.BytesIO()
        assert await m.exports.download("costs", "2026-10-01", "2026-11-01", sink=sink) == b""
        assert sink.getvalue() == csv_body
        drafts = await m.invoices.generate("2026-10")
        assert drafts["data"] == []
        with pytest.raises(BadRequestError) as bad:
            await m.exports.download("spans", "2026-10-01", "2026-11-01")  # type: ignore[arg-type]
        assert bad.value.problem["field"] == "kind"
