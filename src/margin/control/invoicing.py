"""Invoices and credits: money credits pay a finalized invoice, a void gives them back, and
both changes are announced by webhook, in the invoice's own transaction.

The invoice is rated by the one rating path (``margin.billing.invoices.finalize``); then the
customer's balance in the invoice currency pays it, up to the total and in whole minor
units, burned like any usage (priority, then expiry) with the cause ``invoice``. A line
``credits applied`` (negative) records it on the invoice, and the total drops by as much,
never below 0. Voiding the invoice puts the same amounts back on the grants they came from
(cause ``void``).

Outcomes priced in a credit currency burn at finalize, not at draft: a draft is a preview
regenerated at will and writes no ledger row, so it can never burn twice. The finalized
lines say how many credits they spent (``detail.credits``, rated against the balance in
force at that moment, in the same transaction); those are burned with the cause ``invoice``
and the invoice as reference, once per invoice and currency, and a void gives them back.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import Connection, select, update

from margin._money import format_decimal, from_nanos, to_nanos
from margin._rounding import minor_digits
from margin._time import now_micros
from margin.billing import invoices as billing
from margin.billing.credit_prices import credit_priced
from margin.billing.orders import load_orders
from margin.control.credits import balance_of, burn, lock_account, record
from margin.control.outbox import emit
from margin.store.schema import invoices
from margin.store.schema_control import credit_grants, credit_ledger

__all__ = ["finalize_invoice", "void_invoice"]


def finalize_invoice(
    conn: Connection, org_id: str, invoice_id: str, *, now: int | None = None
) -> dict[str, Any]:
    stamp = now_micros() if now is None else now
    draft = billing.get(conn, org_id, invoice_id)
    # The rating reads the credit balances its lines spend: hold them until they are burned.
    for credit in sorted(credit_priced(load_orders(conn, org_id, draft["customer_id"]))):
        lock_account(conn, org_id, draft["customer_id"], credit)
    inv = billing.finalize(conn, org_id, invoice_id, now=stamp)
    currency, customer_id = inv["currency"], inv["customer_id"]
    _burn_credit_prices(conn, org_id, inv, stamp)
    lock_account(conn, org_id, customer_id, currency)
    balance = balance_of(conn, org_id, customer_id, currency, stamp)
    usable = min(balance, inv["total_nanos"])
    step = Decimal(1).scaleb(-minor_digits(currency))
    applied = to_nanos(from_nanos(max(usable, 0)).quantize(step, rounding=ROUND_DOWN))
    if applied > 0:
        burn(
            conn, org_id, customer_id, currency, applied, stamp, "invoice", f"invoice:{invoice_id}"
        )
        amount = -from_nanos(applied)
        line: dict[str, Any] = {
            "type": "credits",
            "key": "credits_applied",
            "description": "Credits applied",
            # The API's line names an order: the credits paid for the invoice's.
            "order_id": inv["lines"][0]["order_id"] if inv["lines"] else "",
            "event_name": None,
            "late_from": None,
            "quantity": None,
            "unit_price": None,
            "amount": format_decimal(amount),
            "exact_amount": format_decimal(amount),
            "tiers": [],
            "detail": {},
            "cost": None,
            "cost_other_currencies": {},
            "margin": None,
        }
        conn.execute(
            update(invoices)
            .where(invoices.c.id == invoice_id)
            .values(lines=[*inv["lines"], line], total_nanos=inv["total_nanos"] - applied)
        )
        inv = billing.get(conn, org_id, invoice_id)
    emit(conn, org_id, "invoice.finalized", _event(inv, applied), stamp)
    return inv


def _burn_credit_prices(conn: Connection, org_id: str, inv: dict[str, Any], now: int) -> None:
    """Burn what the invoice's credit-priced outcome lines spent, unless this invoice already
    burned that currency."""
    spent: dict[str, int] = defaultdict(int)
    for line in inv["lines"]:
        detail = line.get("detail") or {}
        if "credits" in detail and detail.get("credit_currency"):
            spent[detail["credit_currency"]] += to_nanos(Decimal(detail["credits"]))
    ref, t = f"invoice:{inv['id']}", credit_ledger
    for credit, amount in sorted(spent.items()):
        done = conn.execute(
            select(t.c.id).where(
                t.c.org_id == org_id, t.c.ref == ref, t.c.cause == "invoice", t.c.currency == credit
            )
        ).first()
        if amount > 0 and done is None:
            burn(conn, org_id, inv["customer_id"], credit, amount, now, "invoice", ref)


def void_invoice(
    conn: Connection, org_id: str, invoice_id: str, reason: str, *, now: int | None = None
) -> dict[str, Any]:
    stamp = now_micros() if now is None else now
    inv = billing.void(conn, org_id, invoice_id, reason, now=stamp)
    ref = f"invoice:{invoice_id}"
    t, g = credit_ledger, credit_grants
    taken = conn.execute(
        select(t.c.grant_id, t.c.delta_nanos, t.c.currency).where(
            t.c.org_id == org_id, t.c.ref == ref, t.c.cause == "invoice"
        )
    ).all()
    returned = 0
    for grant_id, delta, currency in taken:
        lock_account(conn, org_id, inv["customer_id"], currency)
        if grant_id is not None:
            conn.execute(
                update(g)
                .where(g.c.id == grant_id)
                .values(remaining_nanos=g.c.remaining_nanos - delta)
            )
        record(
            conn,
            org_id,
            inv["customer_id"],
            currency,
            -delta,
            "void",
            stamp,
            grant_id=grant_id,
            ref=ref,
        )
        returned -= delta
    emit(conn, org_id, "invoice.voided", _event(inv, -returned), stamp)
    return inv


def _event(inv: dict[str, Any], credits: int) -> dict[str, Any]:
    return {
        "invoice_id": inv["id"],
        "number": inv["number"],
        "customer_id": inv["customer_id"],
        "currency": inv["currency"],
        "period": inv["period"],
        "status": inv["status"],
        "total": format_decimal(from_nanos(inv["total_nanos"])),
        "credits": format_decimal(from_nanos(abs(credits))),
    }
