"""``/v1/invoices``: generate drafts for a period, finalize, void, list, show (JSON, HTML).

The services and the rating rules are in ``margin.billing`` (``invoices``, ``rating``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from margin.billing import invoices as billing
from margin.billing.invoice_html import CONTENT_SECURITY_POLICY, invoice_html, seller_of
from margin.control.invoicing import finalize_invoice, void_invoice
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.routes._billing_api import (
    GenerateIn,
    GenerateOut,
    Invoice,
    InvoiceList,
    VoidIn,
)
from margin.server.state import AppState
from margin.store.keys import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/invoices", tags=["invoices"], route_class=ExactJsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


@router.post(
    "/generate", response_model=GenerateOut, summary="Write or refresh the drafts of a period"
)
def generate(body: GenerateIn, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        rows = billing.generate(conn, principal.org_id, body.period, body.customers)
        return {
            "period": body.period,
            "data": billing.render_invoices(conn, principal.org_id, rows),
        }


@router.get("", response_model=InvoiceList, summary="List invoices")
def list_invoices(
    request: Request,
    principal: Reader,
    period: Annotated[str | None, Query(max_length=7)] = None,
    status: Literal["draft", "finalized", "void"] | None = None,
    customer: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        rows = billing.list_invoices(
            conn, principal.org_id, period=period, status=status, customer=customer, limit=limit
        )
        return {"data": billing.render_invoices(conn, principal.org_id, rows)}


def _one(request: Request, org_id: str, invoice_id: str) -> tuple[dict[str, Any], Any]:
    with AppState.of(request).db.read() as conn:
        row = billing.get(conn, org_id, invoice_id)
        return billing.render_invoices(conn, org_id, [row])[0], seller_of(conn, org_id)


@router.get("/{invoice_id}.html", response_class=HTMLResponse, summary="A printable invoice")
def show_html(
    invoice_id: str, request: Request, principal: Reader, internal: bool = False
) -> HTMLResponse:
    """Amounts formatted to the currency's minor unit, the issue and due dates and the
    seller; ``internal=true`` adds the seller-only AI cost and margin columns."""
    invoice, seller = _one(request, principal.org_id, invoice_id)
    return HTMLResponse(
        invoice_html(invoice, seller, internal=internal),
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


@router.get(
    "/{invoice_id}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
    },
    summary="The invoice as a PDF",
)
def show_pdf(invoice_id: str, request: Request, principal: Reader) -> Response:
    """The printable invoice's content as a PDF download (the customer's view)."""
    from margin.billing.invoice_pdf import invoice_pdf  # fpdf2 loads only when asked

    invoice, seller = _one(request, principal.org_id, invoice_id)
    name = invoice["number"] or invoice["id"]
    return Response(
        invoice_pdf(invoice, seller),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


@router.get("/{invoice_id}", response_model=Invoice, summary="Get an invoice")
def show(invoice_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    return _one(request, principal.org_id, invoice_id)[0]


@router.post(
    "/{invoice_id}/finalize",
    response_model=Invoice,
    summary="Finalize a draft: immutable and numbered",
)
def finalize(invoice_id: str, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        row = finalize_invoice(conn, principal.org_id, invoice_id)
        return billing.render_invoices(conn, principal.org_id, [row])[0]


@router.post("/{invoice_id}/void", response_model=Invoice, summary="Void an invoice")
def void(invoice_id: str, body: VoidIn, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        row = void_invoice(conn, principal.org_id, invoice_id, body.reason)
        return billing.render_invoices(conn, principal.org_id, [row])[0]
