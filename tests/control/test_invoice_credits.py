"""Money credits pay a finalized invoice (a line "credits applied", never below 0) and come
back when it is voided; both changes are announced through the outbox."""

from __future__ import annotations

from control_support import ok, set_clock
from sqlalchemy import select

from billing_support import generate, outcome, setup_plan
from margin.store.schema_control import webhook_messages
from margin_testing import Api


def test_credits_pay_an_invoice_and_return_on_void(api: Api) -> None:
    set_clock(api, "2026-11-03T12:00:00+00:00")
    order = setup_plan(api)
    acme = order["customer_id"]
    ok(api.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hook"}), 201)
    outcome(api, "meeting_booked", "2026-10-05T10:00:00Z")  # 25 + the 300 fee
    grants = [
        {
            "currency": "USD",
            "amount": "100.005",
            "priority": 1,
            "effective_at": "2026-10-01T00:00:00Z",
        },
        {"currency": "USD", "amount": "40", "priority": 2, "effective_at": "2026-10-01T00:00:00Z"},
        {"currency": "EUR", "amount": "1000", "effective_at": "2026-10-01T00:00:00Z"},
    ]
    for grant in grants:
        ok(api.post(f"/v1/customers/{acme}/credits/grants", json=grant), 201)
    (draft,) = generate(api, "2026-10")
    assert draft["total"] == "325"
    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    # 140.005 available in USD: whole cents only (140.00) pay the invoice.
    assert final["lines"][-1]["description"] == "Credits applied"
    assert final["lines"][-1]["amount"] == "-140"
    assert final["total"] == "185"
    balances = {
        b["currency"]: b["balance"]
        for b in ok(api.get(f"/v1/customers/{acme}/credits/balances"))["data"]
    }
    assert balances == {"USD": "0.005", "EUR": "1000"}
    ok(api.post(f"/v1/invoices/{draft['id']}/void", json={"reason": "wrong period"}))
    balances = {
        b["currency"]: b["balance"]
        for b in ok(api.get(f"/v1/customers/{acme}/credits/balances"))["data"]
    }
    assert balances == {"USD": "140.005", "EUR": "1000"}
    causes = [
        r["cause"]
        for r in ok(api.get(f"/v1/customers/{acme}/credits/ledger", params={"currency": "USD"}))[
            "data"
        ]
    ]
    assert causes == ["grant", "grant", "invoice", "invoice", "void", "void"]
    with api.db.read() as conn:
        types = [
            r.event_type
            for r in conn.execute(
                select(webhook_messages.c.event_type).order_by(webhook_messages.c.created_at)
            )
        ]
    assert types == ["invoice.finalized", "invoice.voided"]


def test_credits_never_take_a_total_below_zero(api: Api) -> None:
    set_clock(api, "2026-11-03T12:00:00+00:00")
    order = setup_plan(api)
    grant = {"currency": "USD", "amount": "1000", "effective_at": "2026-10-01T00:00:00Z"}
    ok(api.post(f"/v1/customers/{order['customer_id']}/credits/grants", json=grant), 201)
    (draft,) = generate(api, "2026-10")
    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    assert (final["total"], final["lines"][-1]["amount"]) == ("0", "-300")
    (balance,) = ok(api.get(f"/v1/customers/{order['customer_id']}/credits/balances"))["data"]
    assert balance["balance"] == "700"
