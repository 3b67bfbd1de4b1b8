"""Invoices: one per customer × currency × period; draft → finalized (immutable, numbered)
→ void.

``generate`` rates every customer with an order and writes (or refreshes) the drafts; a
finalized invoice is never touched again, and facts that arrive after it roll into the next
draft (see ``margin.billing.rating``). ``finalize`` re-rates the draft one last time, then
freezes it with the next number of the organization's yearly sequence (``INV-2026-0001``).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from margin._ids import new_id
from margin._money import format_decimal, from_nanos, to_nanos
from margin._time import from_micros, isoformat, now_micros
from margin.billing.periods import month_bounds
from margin.billing.rating import Line, rate_customer
from margin.store.schema import customers, invoice_counters, invoices, orders

__all__ = ["InvoiceError", "finalize", "generate", "render_invoice", "void"]


class InvoiceError(ValueError):
    """A state change the invoice does not allow (``status`` is the HTTP status to answer)."""

    def __init__(self, status: int, detail: str, field: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


def _existing(conn: Connection, org_id: str, customer_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(invoices).where(
            invoices.c.org_id == org_id,
            invoices.c.customer_id == customer_id,
            invoices.c.status != "void",
        )
    )
    return [dict(r._mapping) for r in rows]


def _watermarks(existing: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    marks: dict[str, dict[str, int]] = defaultdict(dict)
    for inv in existing:
        if inv["status"] == "finalized":
            marks[inv["currency"]][inv["period"]] = inv["as_of"]
    return marks


def _values(lines: list[Line], currency: str) -> dict[str, Any]:
    total = sum(to_nanos(line.amount) for line in lines)
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
        "total_nanos": total,
        "cost": {c: format_decimal(from_nanos(n)) for c, n in sorted(cost.items())}
        if shown
        else {},
    }


def _rate_into(
    conn: Connection, org_id: str, customer: dict[str, Any], period: str, now: int
) -> list[dict[str, Any]]:
    existing = _existing(conn, org_id, customer["id"])
    rated = rate_customer(conn, org_id, customer, period, _watermarks(existing))
    mine = {inv["currency"]: inv for inv in existing if inv["period"] == period}
    lo, hi = month_bounds(period)
    written = []
    for currency in sorted(
        set(rated.lines) | {c for c, i in mine.items() if i["status"] == "draft"}
    ):
        current = mine.get(currency)
        if current is not None and current["status"] == "finalized":
            continue
        values = {
            **_values(rated.lines.get(currency, []), currency),
            "as_of": now,
            "updated_at": now,
        }
        if current is None:
            if not rated.lines.get(currency):
                continue
            row = {
                "id": new_id("inv"),
                "org_id": org_id,
                "customer_id": customer["id"],
                "currency": currency,
                "period": period,
                "period_start": lo,
                "period_end": hi,
                "status": "draft",
                "created_at": now,
                **values,
            }
            conn.execute(invoices.insert().values(**row))
        else:
            conn.execute(update(invoices).where(invoices.c.id == current["id"]).values(**values))
            row = {**current, **values}
        stored = get(conn, org_id, row["id"])
        assert stored is not None
        written.append(stored)
    return written


def generate(
    conn: Connection, org_id: str, period: str, customer_ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """Write or refresh the draft invoices of ``period`` for every customer with an order
    (or the given customers); returns the drafts written."""
    _lo, hi = month_bounds(period)
    now = now_micros()
    query = select(customers).where(
        customers.c.org_id == org_id,
        customers.c.id.in_(
            select(orders.c.customer_id).where(orders.c.org_id == org_id, orders.c.starts_at < hi)
        ),
    )
    if customer_ids is not None:
        query = query.where(customers.c.id.in_(customer_ids))
    written = []
    for customer in conn.execute(query.order_by(customers.c.id)):
        written.extend(_rate_into(conn, org_id, dict(customer._mapping), period, now))
    return written


def get(conn: Connection, org_id: str, invoice_id: str) -> dict[str, Any] | None:
    """One invoice of the organization, or None."""
    row = conn.execute(
        select(invoices).where(invoices.c.org_id == org_id, invoices.c.id == invoice_id)
    ).first()
    return dict(row._mapping) if row else None


def _next_number(conn: Connection, org_id: str, year: int) -> str:
    insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    stmt = insert(invoice_counters).values(org_id=org_id, year=year, last=1)
    upsert = stmt.on_conflict_do_update(
        index_elements=["org_id", "year"], set_={"last": invoice_counters.c.last + 1}
    ).returning(invoice_counters.c.last)
    last = int(conn.execute(upsert).scalar_one())
    return f"INV-{year}-{last:04d}"


def finalize(conn: Connection, org_id: str, invoice_id: str) -> dict[str, Any]:
    """Re-rate a draft with the newest facts and freeze it under the next number."""
    inv = get(conn, org_id, invoice_id)
    if inv is None:
        raise InvoiceError(404, f"no invoice '{invoice_id}'", "id")
    if inv["status"] != "draft":
        raise InvoiceError(
            409, f"invoice is {inv['status']}; only a draft can be finalized", "status"
        )
    customer = conn.execute(select(customers).where(customers.c.id == inv["customer_id"])).first()
    assert customer is not None
    now = now_micros()
    _rate_into(conn, org_id, dict(customer._mapping), inv["period"], now)
    number = _next_number(conn, org_id, from_micros(now).year)
    conn.execute(
        update(invoices)
        .where(invoices.c.id == invoice_id)
        .values(status="finalized", number=number, finalized_at=now, updated_at=now)
    )
    found = get(conn, org_id, invoice_id)
    assert found is not None
    return found


def void(conn: Connection, org_id: str, invoice_id: str, reason: str) -> dict[str, Any]:
    """Void a draft or finalized invoice; its period can then be generated afresh."""
    inv = get(conn, org_id, invoice_id)
    if inv is None:
        raise InvoiceError(404, f"no invoice '{invoice_id}'", "id")
    if inv["status"] == "void":
        raise InvoiceError(409, "invoice is already void", "status")
    now = now_micros()
    conn.execute(
        update(invoices)
        .where(invoices.c.id == invoice_id)
        .values(status="void", void_reason=reason, voided_at=now, updated_at=now)
    )
    return {**inv, "status": "void", "void_reason": reason, "voided_at": now, "updated_at": now}


def render_invoice(inv: dict[str, Any], customer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API shape of an invoice. ``cost`` and ``margin`` are for the seller only."""
    total = from_nanos(inv["total_nanos"])
    cost_text = inv["cost"].get(inv["currency"]) if inv["cost"] else None
    cost = None if cost_text is None else Decimal(cost_text)
    margin = None if cost is None else total - cost
    pct = None
    if margin is not None and total != 0:
        pct = format_decimal((margin * 100 / total).quantize(Decimal("0.01")))
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
        "cost_other_currencies": {c: a for c, a in inv["cost"].items() if c != inv["currency"]},
        "margin": None if margin is None else format_decimal(margin),
        "margin_pct": pct,
        "as_of": isoformat(inv["as_of"]),
        "created_at": isoformat(inv["created_at"]),
        "updated_at": isoformat(inv["updated_at"]),
        "finalized_at": isoformat(inv["finalized_at"]) if inv["finalized_at"] else None,
        "voided_at": isoformat(inv["voided_at"]) if inv["voided_at"] else None,
        "void_reason": inv["void_reason"],
    }
