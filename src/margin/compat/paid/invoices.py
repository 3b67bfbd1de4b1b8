"""Margin's invoices as Paid's (``invoices/``, read-only): one Paid invoice per Margin
invoice, one line per Margin line. Margin computes no tax: tax fields are 0."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy import func, select

from margin.billing import invoices as billing_invoices
from margin.billing.errors import BillingError
from margin.compat._common import CamelModel, Limit, Offset, both_slashes, principal
from margin.compat.paid.models import Page
from margin.compat.paid.parties import page_of, router
from margin.server.routes._billing_api import problem
from margin.server.state import AppState
from margin.store.schema import invoices

__all__ = ["paid_invoice"]


def paid_invoice(inv: dict[str, Any]) -> dict[str, Any]:
    view = billing_invoices.render_invoice(inv)
    total = view["total"]
    return {
        "id": view["id"],
        "number": view["number"],
        "customerId": view["customer_id"],
        "status": view["status"],
        "paymentStatus": "unpaid",
        "source": "margin",
        "startDate": view["period_start"],
        "endDate": view["period_end"],
        "issueDate": view["finalized_at"] or view["created_at"],
        "currency": view["currency"],
        "taxAmount": "0",
        "taxRate": "0",
        "taxStatus": "not_calculated",
        "taxExempt": False,
        "invoiceTotalExcludingTax": total,
        "invoiceTotal": total,
        "amountDue": total,
        "amountPaid": "0",
        "amountRemaining": total,
        "creditNotesTotal": "0",
        "createdAt": view["created_at"],
        "updatedAt": view["updated_at"],
    }


@both_slashes(router, "GET", "/invoices/", response_model=Page)
def list_invoices(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    customer_id: Annotated[str | None, Query(alias="customerId")] = None,
) -> Page:
    who = principal(request, "read")
    where = [invoices.c.org_id == who.org_id]
    if customer_id is not None:
        where.append(invoices.c.customer_id == customer_id)
    with AppState.of(request).db.read() as conn:
        total = conn.execute(select(func.count()).select_from(invoices).where(*where)).scalar_one()
        rows = conn.execute(
            select(invoices).where(*where).order_by(invoices.c.id).limit(limit).offset(offset)
        )
        data = [paid_invoice(dict(r._mapping)) for r in rows]
    return page_of(data, limit, offset, int(total))


def _one_invoice(request: Request, org_id: str, invoice_id: str) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        try:
            return billing_invoices.get(conn, org_id, invoice_id)
        except BillingError as exc:
            raise problem(exc) from None


class InvoiceOut(CamelModel):
    """A Margin invoice in Paid's shape (amounts are decimal strings)."""

    id: str
    number: str | None = None
    customer_id: str
    status: str
    payment_status: str
    source: str
    start_date: str
    end_date: str
    issue_date: str
    currency: str
    tax_amount: str
    tax_rate: str
    tax_status: str
    tax_exempt: bool
    invoice_total_excluding_tax: str
    invoice_total: str
    amount_due: str
    amount_paid: str
    amount_remaining: str
    credit_notes_total: str
    created_at: str
    updated_at: str


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
def get_invoice(invoice_id: str, request: Request) -> InvoiceOut:
    who = principal(request, "read")
    return InvoiceOut.model_validate(paid_invoice(_one_invoice(request, who.org_id, invoice_id)))


@router.get("/invoices/{invoice_id}/lines", response_model=Page)
def invoice_lines(invoice_id: str, request: Request) -> Page:
    who = principal(request, "read")
    inv = _one_invoice(request, who.org_id, invoice_id)
    view = billing_invoices.render_invoice(inv)
    lines = [
        {
            "id": f"{view['id']}:{n}",
            "description": line.get("description") or line.get("key") or "",
            "startDate": view["period_start"],
            "endDate": view["period_end"],
            "paymentStatus": "unpaid",
            "quantity": line.get("quantity") or "1",
            "totalPriceBeforeTax": line.get("amount", "0"),
            "tax": "0",
            "taxRate": "0",
            "totalPriceAfterTax": line.get("amount", "0"),
            "currency": view["currency"],
            "balanceAmount": line.get("amount", "0"),
            "creditedAmount": "0",
            "createdAt": view["created_at"],
            "updatedAt": view["updated_at"],
        }
        for n, line in enumerate(view["lines"])
    ]
    return page_of(lines, len(lines) or 1, 0, len(lines))
