"""Invoices: proration, outcome and usage lines with exact totals, late events before and
after finalization, numbering, void, minimums, overrides, tracking modes and HTML."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing_support import generate, outcome, setup_plan

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api


def _lines(invoice: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {line["key"]: line for line in invoice["lines"]}


def test_prorated_fee_outcomes_and_attributed_cost(api: Api) -> None:
    setup_plan(api, starts_at="2026-10-11")
    outcome(api, "meeting_booked", "2026-10-05T09:00:00Z", cost="1")  # before the order
    for day in (12, 13, 14):
        outcome(api, "meeting_booked", f"2026-10-{day}T09:00:00Z", cost="0.40")
    for i in range(10):
        outcome(api, "email_sent", f"2026-10-20T09:{i:02d}:00Z", cost="0.01")
    [invoice] = generate(api, "2026-10")
    lines = _lines(invoice)
    # In force on days 11…31 of 31: each day is ⌊30000·(k+1)/31⌋ − ⌊30000·k/31⌋ cents, and
    # days k = 10…30 add up to 30000 − ⌊30000·10/31⌋ = 30000 − 9677 = 20323 cents.
    assert lines["fee:platform"]["amount"] == "203.23"
    assert lines["fee:platform"]["exact_amount"] == "203.225806452"
    assert lines["outcome:meeting_booked"]["quantity"] == "3"
    assert lines["outcome:meeting_booked"]["amount"] == "75"
    assert lines["outcome:meeting_booked"]["cost"] == "1.2"
    assert lines["outcome:meeting_booked"]["margin"] == "73.8"
    assert lines["outcome:email_sent"]["amount"] == "1"  # 10 × 0.10
    assert lines["outcome:email_sent"]["cost"] == "0.1"
    # 203.23 + 75 + 1
    assert invoice["total"] == "279.23"
    assert invoice["cost"] == "1.3"
    assert invoice["margin"] == "277.93"
    assert invoice["status"] == "draft"
    assert invoice["number"] is None


def test_cost_in_another_currency_leaves_the_margin_unstated_not_overstated(api: Api) -> None:
    setup_plan(api, plan={"currency": "EUR"}, starts_at="2026-10-01")
    outcome(api, "meeting_booked", "2026-10-12T09:00:00Z", cost="30")  # the cost is in USD
    outcome(api, "email_sent", "2026-10-20T09:00:00Z")  # a line with no cost at all
    [invoice] = generate(api, "2026-10")
    lines = _lines(invoice)
    assert (invoice["currency"], invoice["total"]) == ("EUR", "325.1")
    assert invoice["cost_other_currencies"] == {"USD": "30"}
    # 30 USD is not nothing in EUR: no margin in EUR can be stated without converting it.
    assert (invoice["margin"], invoice["margin_pct"]) == (None, None)
    booked = lines["outcome:meeting_booked"]
    assert (booked["cost_other_currencies"], booked["margin"]) == ({"USD": "30"}, None)
    assert lines["outcome:email_sent"]["margin"] == "0.1"


def test_late_events_before_and_after_finalization(api: Api) -> None:
    setup_plan(api, plan={"fees": []})
    outcome(api, "meeting_booked", "2026-10-10T09:00:00Z")
    [draft] = generate(api, "2026-10")
    assert draft["total"] == "25"
    # A late event before finalization: regenerating updates the same draft.
    outcome(api, "meeting_booked", "2026-10-31T23:59:59Z")
    [again] = generate(api, "2026-10")
    assert (again["id"], again["total"]) == (draft["id"], "50")
    final = api.post(f"/v1/invoices/{draft['id']}/finalize").json()
    year = final["finalized_at"][:4]  # numbers follow the year of finalization
    assert final["status"] == "finalized"
    assert final["number"] == f"INV-{year}-0001"
    assert final["total"] == "50"
    # A late event after finalization: October stays as finalized; it rolls into November.
    outcome(api, "meeting_booked", "2026-10-15T09:00:00Z")
    outcome(api, "meeting_booked", "2026-11-02T09:00:00Z")
    assert generate(api, "2026-10") == []
    assert api.get(f"/v1/invoices/{draft['id']}", scope="read").json()["total"] == "50"
    [november] = generate(api, "2026-11")
    lines = _lines(november)
    assert lines["outcome:meeting_booked"]["quantity"] == "1"
    assert lines["outcome:meeting_booked:2026-10"]["late_from"] == "2026-10"
    assert lines["outcome:meeting_booked:2026-10"]["amount"] == "25"
    assert november["total"] == "50"
    again_final = api.post(f"/v1/invoices/{november['id']}/finalize").json()
    assert again_final["number"] == f"INV-{year}-0002"
    # Nothing is billed twice: December sees no October or November signal.
    assert generate(api, "2026-12") == []
    conflict = api.post(f"/v1/invoices/{november['id']}/finalize")
    assert conflict.status_code == 409


def test_void_then_regenerate(api: Api) -> None:
    setup_plan(api)
    [invoice] = generate(api, "2026-10")
    assert api.post(f"/v1/invoices/{invoice['id']}/void", json={}).status_code == 422
    voided = api.post(f"/v1/invoices/{invoice['id']}/void", json={"reason": "wrong plan"})
    assert voided.json()["status"] == "void"
    assert api.post(f"/v1/invoices/{invoice['id']}/finalize").status_code == 409
    [fresh] = generate(api, "2026-10")
    assert fresh["id"] != invoice["id"]
    listed = api.get("/v1/invoices", params={"period": "2026-10"}, scope="read").json()["data"]
    assert sorted(i["status"] for i in listed) == ["draft", "void"]


def test_usage_charges_with_tiers_and_cost_meters(api: Api) -> None:
    api.post(
        "/v1/meters",
        json={
            "key": "calls",
            "event_type": "api",
            "aggregation": "sum",
            "value_property": "$.calls",
        },
    )
    api.post(
        "/v1/meters",
        json={
            "key": "calls_cost",
            "event_type": "api",
            "aggregation": "sum",
            "value_property": "$.calls",
            "kind": "cost",
            "unit_cost": "0.001",
            "currency": "USD",
        },
    )
    api.post(
        "/v1/meters",
        json={
            "key": "deal",
            "event_type": "deal",
            "aggregation": "sum",
            "value_property": "$.value",
        },
    )
    usage = [
        {
            "key": "calls",
            "meter": "calls",
            "model": "graduated",
            "tiers": [{"up_to": "1000", "unit_price": "0"}, {"up_to": None, "unit_price": "0.01"}],
        },
        {
            "key": "deals",
            "meter": "deal",
            "model": "percentage",
            "rate": "10",
            "min_per_event": "5",
            "max_per_event": "50",
        },
    ]
    setup_plan(api, plan={"fees": [], "outcomes": [], "usage": usage, "minimum": "100"})
    events = [
        {
            "type": "api",
            "customer": "acme",
            "timestamp": "2026-10-03T00:00:00Z",
            "data": {"calls": 1200},
        },
        {
            "type": "api",
            "customer": "acme",
            "timestamp": "2026-10-04T00:00:00Z",
            "data": {"calls": 300},
        },
        {
            "type": "deal",
            "customer": "acme",
            "timestamp": "2026-10-04T00:00:00Z",
            "data": {"value": "20"},
        },
        {
            "type": "deal",
            "customer": "acme",
            "timestamp": "2026-10-05T00:00:00Z",
            "data": {"value": "1000"},
        },
    ]
    assert api.post("/v1/events", json={"items": events}, scope="ingest").status_code == 200
    [invoice] = generate(api, "2026-10")
    lines = _lines(invoice)
    # 1500 calls: 1000 free, 500 × 0.01 = 5; cost 1500 × 0.001 = 1.5
    assert lines["usage:calls"]["amount"] == "5"
    assert [t["units"] for t in lines["usage:calls"]["tiers"]] == ["1000", "500"]
    assert lines["usage:calls"]["cost"] == "1.5"
    # deals: 10% of 20 = 2 → min 5; 10% of 1000 = 100 → max 50
    assert lines["usage:deals"]["amount"] == "55"
    # minimum 100: 100 − (5 + 55) = 40
    assert lines["minimum"]["amount"] == "40"
    assert invoice["total"] == "100"


def test_order_overrides_and_bad_input(api: Api) -> None:
    setup_plan(api, overrides={"outcomes": {"meeting_booked": "30"}, "fees": {"platform": "0"}})
    outcome(api, "meeting_booked", "2026-10-10T09:00:00Z")
    [invoice] = generate(api, "2026-10")
    assert invoice["total"] == "30"
    bad = api.post(
        "/v1/orders",
        json={
            "customer": "acme",
            "plan": "sdr-pro",
            "starts_at": "2026-10-01",
            "overrides": {"outcomes": {"nope": "1"}},
        },
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "overrides.outcomes.nope"
    assert api.post("/v1/invoices/generate", json={"period": "2026-13"}).status_code == 422
    assert (
        api.post("/v1/invoices/generate", json={"period": "2026-10"}, scope="read").status_code
        == 403
    )
    bad_plan = api.post(
        "/v1/plans",
        json={
            "key": "x",
            "currency": "USD",
            "usage": [
                {
                    "key": "u",
                    "meter": "m",
                    "model": "package",
                    "package_size": "0",
                    "package_price": "1",
                }
            ],
        },
    )
    assert bad_plan.status_code == 422
    assert (
        api.post(
            "/v1/plans", json={"key": "y", "currency": "USD", "fees": [{"key": "f", "amount": 1.5}]}
        ).status_code
        == 201
    )
    assert api.get("/v1/invoices/inv_nope", scope="read").status_code == 404


def test_tracking_modes(api: Api) -> None:
    setup_plan(api)
    api.post("/v1/customers", json={"external_id": "shadow", "tracking_mode": "cost_only"})
    api.post("/v1/customers", json={"external_id": "blind", "tracking_mode": "revenue_only"})
    for who in ("shadow", "blind"):
        api.post("/v1/orders", json={"customer": who, "plan": "sdr-pro", "starts_at": "2026-10-01"})
        outcome(api, "meeting_booked", "2026-10-10T09:00:00Z", cost="1", customer=who)
    invoices = {i["customer"]["external_id"]: i for i in generate(api, "2026-10")}
    assert "shadow" not in invoices  # cost-only customers are never billed
    blind = invoices["blind"]
    assert blind["total"] == "325"
    assert blind["cost"] is None
    assert blind["margin"] is None
    assert all(line["cost"] is None for line in blind["lines"])
    assert invoices["acme"]["cost"] == "0"


def test_html_page(api: Api) -> None:
    setup_plan(api)
    outcome(api, "meeting_booked", "2026-10-10T09:00:00Z", cost="2")
    [invoice] = generate(api, "2026-10")
    page = api.get(f"/v1/invoices/{invoice['id']}.html", scope="read")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "325" in page.text
    assert "AI cost" not in page.text
    assert "<link" not in page.text
    assert "<script" not in page.text
    internal = api.get(
        f"/v1/invoices/{invoice['id']}.html", params={"internal": "true"}, scope="read"
    )
    assert "AI cost" in internal.text


def test_amounts_too_large_to_store_are_refused(api: Api) -> None:
    huge = {"key": "big", "currency": "USD", "fees": [{"key": "f", "amount": "1e30"}]}
    response = api.post("/v1/plans", json=huge)
    assert response.status_code == 422
    assert "fees.0.amount" in response.json()["detail"]
    meter = {
        "key": "m",
        "event_type": "e",
        "aggregation": "count",
        "kind": "cost",
        "unit_cost": "1e30",
        "currency": "USD",
    }
    assert api.post("/v1/meters", json=meter).status_code == 422
    assert api.get("/v1/plans", scope="read").json()["data"] == []
