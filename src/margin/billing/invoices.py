"""Invoices: one per customer × currency × period; draft → finalized (immutable, numbered)
→ void. These are the services the API, the CLI and the demo call.

``generate`` rates every customer with an order (``margin.billing.revenue``) and writes
(or refreshes) the drafts; a finalized invoice is never touched again, and signals that
arrive after it roll into a later draft as late lines. ``finalize`` re-rates the draft one
last time, then freezes it with the next number of the organization's yearly sequence
(``INV-2026-0001``); it is issued then, and due ``PAYMENT_TERMS_DAYS`` later.

Each line is rounded half-even to the currency's minor unit when it is rated; the total is
the sum of the lines, so it needs no rounding of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from margin._calendar import month_bounds
from margin._ids import new_id
from margin._money import MoneyError, format_decimal, from_nanos, to_nanos
from margin._time import DAY_US, from_micros, isoformat, now_micros
from margin.billing.errors import BillingError
from margin.billing.lines import Line
from margin.billing.revenue import rate_customers
from margin.store.directory import CUSTOMERS
from margin.store.schema import customers, invoice_counters, invoices, orders

__all__ = [
    "PAYMENT_TERMS_DAYS",
    "finalize",
    "generate",
    "get",
    "list_invoices",
    "render_invoice",
    "render_invoices",
    "void",
]

#: Days from issue (finalization) to the due date.
PAYMENT_TERMS_DAYS = 30


def _period(period: str) -> tuple[int, int]:
    try:
        return month_bounds(period)
    except ValueError as exc:
        raise BillingError(422, f"period: {exc}", "period") from None


def _values(lines: list[Line], currency: str) -> dict[str, Any]:
    cost: dict[str, int] = defaultdict(int)
    shown = False
    for line in lines:
        if line.costs is not None:
            shown = True
            for cur, nanos in line.costs.items():
                cost[cur] += nanos
    if shown:
        cost.setdefault(currency, 0)
    return {
        "lines": [line.render() for line in lines],
        "total_nanos": sum(to_nanos(line.amount) for line in lines),
        "cost": {c: format_decimal(from_nanos(n)) for c, n in sorted(cost.items())},
    }


def _rate_into(
    conn: Connection, org_id: str, customer_id: str, period: str, now: int
) -> list[dict[str, Any]]:
    existing = conn.execute(
        select(invoices).where(
            invoices.c.org_id == org_id,
            invoices.c.customer_id == customer_id,
            invoices.c.period == period,
            invoices.c.status != "void",
        )
    )
    mine = {r.currency: dict(r._mapping) for r in existing}
    try:
        rated = rate_customers(
            conn,
            org_id,
            [period],
            customer_ids=[customer_id],
            exact=True,
            with_costs=True,
            credits_at=now,
        )
    except MoneyError as exc:
        raise BillingError(422, f"period: an amount is out of range: {exc}", "period") from None
    fresh = {p.currency: p.lines for p in rated if p.invoice_id is None}
    lo, hi = month_bounds(period)
    written = []
    drafts = {c for c, inv in mine.items() if inv["status"] == "draft"}
    for currency in sorted(set(fresh) | drafts):
        current = mine.get(currency)
        if current is not None and current["status"] == "finalized":
            continue
        values = {**_values(fresh.get(currency, []), currency), "as_of": now, "updated_at": now}
        if current is None:
            invoice_id = new_id("inv")
            conn.execute(
                invoices.insert().values(
                    id=invoice_id,
                    org_id=org_id,
                    customer_id=customer_id,
                    currency=currency,
                    period=period,
                    period_start=lo,
                    period_end=hi,
                    status="draft",
                    created_at=now,
                    **values,
                )
            )
        else:
            invoice_id = current["id"]
            conn.execute(update(invoices).where(invoices.c.id == invoice_id).values(**values))
        written.append(get(conn, org_id, invoice_id))
    return written


def generate(
    conn: Connection,
    org_id: str,
    period: str,
    customer_refs: list[str] | None = None,
    *,
    now: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Write or refresh the draft invoices of ``period`` for every customer with an order
    (or the customers named by external id or id); returns the drafts written.
    ``progress(done, total)`` is called after each customer."""
    _lo, hi = _period(period)
    query = select(customers.c.id).where(
        customers.c.org_id == org_id,
        customers.c.id.in_(
            select(orders.c.customer_id).where(orders.c.org_id == org_id, orders.c.starts_at < hi)
        ),
    )
    if customer_refs is not None:
        found = CUSTOMERS.resolve(conn, org_id, customer_refs, create=False)
        direct = CUSTOMERS.existing_ids(conn, org_id, [c for c in customer_refs if c not in found])
        missing = [c for c in customer_refs if c not in found and c not in direct]
        if missing:
            raise BillingError(422, f"customers: no customer '{missing[0]}'", "customers")
        query = query.where(customers.c.id.in_({*found.values(), *direct}))
    stamp = now_micros() if now is None else now
    written = []
    customer_ids = conn.execute(query.order_by(customers.c.id)).scalars().all()
    for done, customer_id in enumerate(customer_ids, 1):
        written.extend(_rate_into(conn, org_id, customer_id, period, stamp))
        if progress is not None:
            progress(done, len(customer_ids))
    return written


def get(conn: Connection, org_id: str, invoice_id: str) -> dict[str, Any]:
    """One invoice of the organization; raises ``BillingError`` (404) when missing."""
    row = conn.execute(
        select(invoices).where(invoices.c.org_id == org_id, invoices.c.id == invoice_id)
    ).first()
    if row is None:
        raise BillingError(404, f"no invoice '{invoice_id}'", "id")
    return dict(row._mapping)


def list_invoices(
    conn: Connection,
    org_id: str,
    *,
    period: str | None = None,
    status: str | None = None,
    customer: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Invoices by id, filtered by period, status and customer (external id or id)."""
    stmt = select(invoices).where(invoices.c.org_id == org_id)
    if period is not None:
        stmt = stmt.where(invoices.c.period == period)
    if status is not None:
        stmt = stmt.where(invoices.c.status == status)
    if customer is not None:
        found = CUSTOMERS.resolve(conn, org_id, [customer], create=False)
        stmt = stmt.where(invoices.c.customer_id == found.get(customer, customer))
    return [dict(r._mapping) for r in conn.execute(stmt.order_by(invoices.c.id).limit(limit))]


def _next_number(conn: Connection, org_id: str, year: int) -> str:
    insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    stmt = insert(invoice_counters).values(org_id=org_id, year=year, last=1)
    upsert = stmt.on_conflict_do_update(
        index_elements=["org_id", "year"], set_={"last": invoice_counters.c.last + 1}
    ).returning(invoice_counters.c.last)
    last = int(conn.execute(upsert).scalar_one())
    return f"INV-{year}-{last:04d}"


def finalize(
    conn: Connection, org_id: str, invoice_id: str, *, now: int | None = None
) -> dict[str, Any]:
    """Re-rate a draft with the newest facts and freeze it under the next number."""
    inv = get(conn, org_id, invoice_id)
    if inv["status"] != "draft":
        raise BillingError(
            409, f"invoice is {inv['status']}; only a draft can be finalized", "status"
        )
    stamp = now_micros() if now is None else now
    _rate_into(conn, org_id, inv["customer_id"], inv["period"], stamp)
    number = _next_number(conn, org_id, from_micros(stamp).year)
    conn.execute(
        update(invoices)
        .where(invoices.c.id == invoice_id)
        .values(status="finalized", number=number, finalized_at=stamp, updated_at=stamp)
    )
    return get(conn, org_id, invoice_id)


def void(
    conn: Connection, org_id: str, invoice_id: str, reason: str, *, now: int | None = None
) -> dict[str, Any]:
    """Void a draft or finalized invoice; its period can then be generated afresh."""
    inv = get(conn, org_id, invoice_id)
    if inv["status"] == "void":
        raise BillingError(409, "invoice is already void", "status")
    stamp = now_micros() if now is None else now
    conn.execute(
        update(invoices)
        .where(invoices.c.id == invoice_id)
        .values(status="void", void_reason=reason, voided_at=stamp, updated_at=stamp)
    )
    return get(conn, org_id, invoice_id)


def render_invoice(inv: dict[str, Any], customer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API shape of an invoice. ``cost`` and ``margin`` are for the seller only."""
    total = from_nanos(inv["total_nanos"])
    cost_text = inv["cost"].get(inv["currency"]) if inv["cost"] else None
    cost = None if cost_text is None else Decimal(cost_text)
    others = {c: a for c, a in inv["cost"].items() if c != inv["currency"]} if inv["cost"] else {}
    # Cost in another currency has no place in a margin in this one: the margin report
    # converts it at each day's rate; here the margin is left unstated, never overstated.
    margin = None if cost is None or any(Decimal(a) for a in others.values()) else total - cost
    pct = None
    if margin is not None and total != 0:
        pct = format_decimal((margin * 100 / total).quantize(Decimal("0.01")))
    issued = inv["finalized_at"]
    return {
        "id": inv["id"],
        "number": inv["number"],
        "status": inv["status"],
        "customer_id": inv["customer_id"],
        "customer": customer,
        "currency": inv["currency"],
        "period": inv["period"],
        "period_start": isoformat(inv["period_start"]),
        "period_end": isoformat(inv["period_end"]),
        "lines": inv["lines"],
        "total": format_decimal(total),
        "cost": None if cost is None else format_decimal(cost),
        "cost_other_currencies": others,
        "margin": None if margin is None else format_decimal(margin),
        "margin_pct": pct,
        "issued_at": isoformat(issued) if issued else None,
        "due_at": isoformat(issued + PAYMENT_TERMS_DAYS * DAY_US) if issued else None,
        "as_of": isoformat(inv["as_of"]),
        "created_at": isoformat(inv["created_at"]),
        "updated_at": isoformat(inv["updated_at"]),
        "finalized_at": isoformat(inv["finalized_at"]) if inv["finalized_at"] else None,
        "voided_at": isoformat(inv["voided_at"]) if inv["voided_at"] else None,
        "void_reason": inv["void_reason"],
    }


def render_invoices(
    conn: Connection, org_id: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """API shapes of stored invoices, with their customers' names."""
    ids = {r["customer_id"] for r in rows}
    who: dict[str, dict[str, Any]] = {}
    if ids:
        found = conn.execute(
            select(
                customers.c.id, customers.c.external_id, customers.c.name, customers.c.email
            ).where(customers.c.org_id == org_id, customers.c.id.in_(ids))
        )
        who = {
            r.id: {"id": r.id, "external_id": r.external_id, "name": r.name, "email": r.email}
            for r in found
        }
    return [render_invoice(r, who.get(r["customer_id"])) for r in rows]
