"""Outcome prices paid in a credit currency: finalizing an invoice burns the credits its
lines spent (once), the rest is billed as overage in money, a void gives the credits back,
and the report, overview and invoice show one number."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from control_support import ok, set_clock
from sqlalchemy import func, select

from billing_support import generate, outcome, setup_plan
from margin._calendar import month_bounds
from margin._money import from_nanos
from margin.reports.facts import Filters
from margin.reports.overview import overview
from margin.reports.tables import build_table
from margin.store.schema import plans
from margin.store.schema_control import credit_ledger
from margin_testing import Api

CREDIT_PLAN = {
    "outcomes": [
        {
            "event_name": "meeting_booked",
            "credit_currency": "meetings",
            "credit_price": "2",
            "overage": "25",
        },
        {"event_name": "email_sent", "price": "0.10"},
    ],
    "fees": [],
}


def _grant(api: Api, customer_id: str, amount: str, **more: Any) -> None:
    body = {"currency": "meetings", "amount": amount, "effective_at": "2026-10-01T00:00:00Z"}
    ok(api.post(f"/v1/customers/{customer_id}/credits/grants", json={**body, **more}), 201)


def _balance(api: Api, customer_id: str) -> str:
    rows = ok(api.get(f"/v1/customers/{customer_id}/credits/balances"))["data"]
    return str(next(r["balance"] for r in rows if r["currency"] == "meetings"))


def _lines(invoice: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [
        (ln["key"], ln["quantity"], ln["amount"], (ln["detail"] or {}).get("credits"))
        for ln in invoice["lines"]
    ]


def _report_revenue(api: Api, customer_id: str, period: str) -> Decimal:
    lo, hi = month_bounds(period)
    with api.db.read() as conn:
        (row,) = build_table(conn, api.tenant.org_id, lo, hi, [], Filters(customers=[customer_id]))
        whole = overview(conn, api.tenant.org_id, lo, hi, ZoneInfo("UTC"), "UTC", 100)
    (total,) = whole["totals"]
    assert Decimal(total["revenue"]) == from_nanos(row["revenue"])
    return Decimal(from_nanos(row["revenue"]))


def test_credits_pay_outcomes_at_finalize_once_and_void_gives_them_back(api: Api) -> None:
    set_clock(api, "2026-11-03T12:00:00+00:00")
    acme = setup_plan(api, CREDIT_PLAN)["customer_id"]
    # Burn order: priority 1 first (3 credits), then priority 5 (4 credits).
    _grant(api, acme, "3", priority=1)
    _grant(api, acme, "4", priority=5)
    for day in range(1, 6):  # 5 meetings × 2 credits = 10 > 7 credits
        outcome(api, "meeting_booked", f"2026-10-0{day}T10:00:00Z")
    outcome(api, "email_sent", "2026-10-02T10:00:00Z")

    (draft,) = generate(api, "2026-10")
    # 7 credits pay 3 whole meetings (6 credits); 2 are billed at 25 each.
    expected = [
        ("outcome:meeting_booked", "3", "0", "6"),
        ("outcome:meeting_booked:overage", "2", "50", None),
        ("outcome:email_sent", "1", "0.1", None),
    ]
    expected = [expected[2], *expected[:2]]  # lines in the order of their first signal
    assert _lines(draft) == expected
    assert draft["total"] == "50.1"
    # A draft is a preview: generating it again burns nothing.
    (again,) = generate(api, "2026-10")
    assert (again["id"], _lines(again)) == (draft["id"], expected)
    assert _balance(api, acme) == "7"
    assert _report_revenue(api, acme, "2026-10") == Decimal("50.1")
    simulated = ok(api.post("/v1/plans/simulate", json={"plan": "sdr-pro", "from": "2026-10"}))
    (row,) = simulated["customers"]
    assert (row["actual"]["revenue"], row["candidate"]["revenue"]) == ("50.1", "50.1")

    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    assert _lines(final) == expected
    assert final["total"] == "50.1"
    assert _balance(api, acme) == "1"
    ledger = ok(api.get(f"/v1/customers/{acme}/credits/ledger", params={"currency": "meetings"}))
    burns = [(r["cause"], r["delta"], r["ref"]) for r in ledger["data"] if r["cause"] != "grant"]
    ref = f"invoice:{draft['id']}"
    assert burns == [("invoice", "-3", ref), ("invoice", "-3", ref)]
    # Finalized: reports read the invoice's lines; generating again changes nothing.
    generate(api, "2026-10")
    assert ok(api.post(f"/v1/invoices/{draft['id']}/finalize"), 409)
    assert _balance(api, acme) == "1"
    assert _report_revenue(api, acme, "2026-10") == Decimal("50.1")

    # November sees what October left: 1 credit pays no whole meeting.
    outcome(api, "meeting_booked", "2026-11-02T10:00:00Z")
    assert _report_revenue(api, acme, "2026-11") == Decimal("25")

    ok(api.post(f"/v1/invoices/{draft['id']}/void", json={"reason": "wrong plan"}))
    assert _balance(api, acme) == "7"
    with api.db.read() as conn:
        voids = conn.execute(
            select(func.sum(credit_ledger.c.delta_nanos)).where(
                credit_ledger.c.ref == ref, credit_ledger.c.cause == "void"
            )
        ).scalar_one()
    assert voids == 6_000_000_000
    # The month can be generated and finalized afresh: it burns again, once.
    (fresh,) = generate(api, "2026-10")
    assert fresh["id"] != draft["id"]
    assert _lines(fresh) == expected
    ok(api.post(f"/v1/invoices/{fresh['id']}/finalize"))
    assert _balance(api, acme) == "1"


def test_without_overage_the_balance_caps_what_is_billed(api: Api) -> None:
    set_clock(api, "2026-11-03T12:00:00+00:00")
    plan = {"outcomes": [{"event_name": "meeting_booked", "credit_currency": "meetings",
                          "credit_price": "1"}], "fees": []}  # fmt: skip
    acme = setup_plan(api, plan)["customer_id"]
    _grant(api, acme, "2")
    # A unit's credits are the unit's: invoices spend only the customer's own grants.
    ok(api.post(f"/v1/customers/{acme}/units", json={"external_id": "team-a"}), 201)
    unit_grant = {"currency": "meetings", "amount": "5", "effective_at": "2026-10-01T00:00:00Z"}
    url = f"/v1/customers/{acme}/credits/grants"
    ok(api.post(url, params={"unit": "team-a"}, json=unit_grant), 201)
    for day in range(1, 4):
        outcome(api, "meeting_booked", f"2026-10-0{day}T10:00:00Z")
    (draft,) = generate(api, "2026-10")
    assert _lines(draft) == [
        ("outcome:meeting_booked", "2", "0", "2"),
        ("outcome:meeting_booked:overage", "1", "0", None),
    ]
    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    assert final["total"] == "0"
    assert _balance(api, acme) == "0"
    rows = ok(api.get(f"/v1/customers/{acme}/credits/balances", params={"unit": "team-a"}))
    assert [(r["currency"], r["balance"]) for r in rows["data"]] == [("meetings", "5")]


@pytest.mark.parametrize(
    ("outcome_body", "field"),
    [
        ({"credit_currency": "Meetings!", "credit_price": "1"}, "outcomes.0.credit_currency"),
        ({"credit_currency": "USD", "credit_price": "1"}, "outcomes.0.credit_currency"),
        ({"credit_currency": "meetings", "credit_price": "-1"}, "outcomes.0.credit_price"),
        ({"credit_currency": "meetings", "credit_price": "abc"}, "outcomes.0.credit_price"),
        ({"credit_currency": "meetings"}, "outcomes.0.credit_price"),
        (
            {"credit_currency": "meetings", "credit_price": "1", "overage": "-5"},
            "outcomes.0.overage",
        ),
        ({"credit_currency": "meetings", "credit_price": "1", "price": "5"}, "outcomes.0.price"),
        ({"credit_price": "1", "price": "5"}, "outcomes.0.credit_price"),
        ({"overage": "1", "price": "5"}, "outcomes.0.overage"),
        ({}, "outcomes.0.price"),
    ],
)
def test_bad_credit_prices_are_refused_naming_the_field(
    api: Api, outcome_body: dict[str, Any], field: str
) -> None:
    body = {
        "key": "bad",
        "currency": "USD",
        "outcomes": [{"event_name": "meeting_booked", **outcome_body}],
    }
    response = api.post("/v1/plans", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field
    with api.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(plans)).scalar_one() == 0


def test_a_credit_price_means_nothing_on_fees_and_usage(api: Api) -> None:
    fee = {"key": "p", "currency": "USD", "fees": [{"key": "f", "amount": "1",
                                                     "credit_currency": "meetings"}]}  # fmt: skip
    usage = {"key": "u", "currency": "USD", "usage": [{"key": "c", "meter": "m",
             "model": "per_unit", "unit_price": "1", "credit_price": "1"}]}  # fmt: skip
    for body, field in ((fee, "fees.0.credit_currency"), (usage, "usage.0.credit_price")):
        response = api.post("/v1/plans", json=body)
        assert (response.status_code, response.json()["field"]) == (422, field)
    order = setup_plan(api, CREDIT_PLAN)
    override = {"customer": "acme", "plan": "sdr-pro", "starts_at": "2026-10-01",
                "overrides": {"outcomes": {"meeting_booked": "30"}}}  # fmt: skip
    response = api.post("/v1/orders", json=override)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "overrides.outcomes.meeting_booked"
    assert order["charges"]["outcomes"][0] == {**CREDIT_PLAN["outcomes"][0], "name": None}
    (shown,) = ok(api.get("/v1/plans"))["data"]
    assert shown["outcomes"][0] == {**CREDIT_PLAN["outcomes"][0], "name": None, "price": None}


def test_a_currency_is_burned_at_ingest_or_at_invoice_never_both(api: Api) -> None:
    feature = {"key": "meetings", "backed_by": "signals", "event_name": "meeting_booked",
               "credit_currency": "meetings"}  # fmt: skip
    ok(api.post("/v1/features", json=feature), 201)
    ok(api.post("/v1/agents", json={"external_id": "sdr"}), 201)
    body = {"key": "sdr-pro", "currency": "USD", **CREDIT_PLAN}
    response = api.post("/v1/plans", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "outcomes.0.credit_currency"
    with api.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(plans)).scalar_one() == 0
    # The other way round: a plan prices in "tokens", so no feature may burn tokens.
    tokens = {**body, "key": "tok", "outcomes": [{**CREDIT_PLAN["outcomes"][0],
                                                   "credit_currency": "tokens"}]}  # fmt: skip
    ok(api.post("/v1/plans", json=tokens), 201)
    burner = {**feature, "key": "toks", "credit_currency": "tokens"}
    response = api.post("/v1/features", json=burner)
    assert (response.status_code, response.json()["field"]) == (422, "credit_currency")
