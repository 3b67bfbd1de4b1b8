"""``/v1/invoices``: generate drafts for a period, finalize, void, list, show (JSON, HTML).

Rating rules (proration, late events, tracking modes) are in ``margin.billing.rating``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select

from margin._money import MoneyError
from margin.billing import invoices as billing
from margin.billing.invoice_html import invoice_html
from margin.billing.periods import month_bounds
from margin.server.auth import require
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import CUSTOMERS
from margin.store.keys import Principal
from margin.store.schema import customers, invoices

__all__ = ["router"]

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Annotated[str, Field(description="A calendar month, YYYY-MM (UTC).")]
    customers: list[str] | None = Field(None, description="External ids; default: all.")


class VoidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=512)]


def _customers(conn: Connection, org_id: str, ids: set[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(
        select(customers.c.id, customers.c.external_id, customers.c.name, customers.c.email).where(
            customers.c.org_id == org_id, customers.c.id.in_(ids)
        )
    )
    return {r.id: dict(r._mapping) for r in rows}


def _render(conn: Connection, org_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    who = _customers(conn, org_id, {r["customer_id"] for r in rows})
    return [billing.render_invoice(r, who.get(r["customer_id"])) for r in rows]


def _raise(exc: billing.InvoiceError) -> Problem:
    return Problem(exc.status, exc.detail, field=exc.field)


@router.post("/generate", summary="Write or refresh the draft invoices of a period")
def generate(body: GenerateIn, request: Request, principal: Admin) -> dict[str, Any]:
    try:
        month_bounds(body.period)
    except ValueError as exc:
        raise Problem(422, f"period: {exc}", field="period") from None
    with AppState.of(request).db.write() as conn:
        ids = None
        if body.customers is not None:
            found = CUSTOMERS.resolve(conn, principal.org_id, body.customers, create=False)
            missing = [c for c in body.customers if c not in found]
            if missing:
                raise Problem(422, f"customers: no customer '{missing[0]}'", field="customers")
            ids = list(found.values())
        try:
            rows = billing.generate(conn, principal.org_id, body.period, ids)
        except MoneyError as exc:
            raise Problem(
                422, f"period: an amount is out of range: {exc}", field="period"
            ) from None
        return {"period": body.period, "data": _render(conn, principal.org_id, rows)}


@router.get("", summary="List invoices")
def list_invoices(
    request: Request,
    principal: Reader,
    period: str | None = None,
    status: Literal["draft", "finalized", "void"] | None = None,
    customer: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    stmt = select(invoices).where(invoices.c.org_id == principal.org_id)
    if period is not None:
        stmt = stmt.where(invoices.c.period == period)
    if status is not None:
        stmt = stmt.where(invoices.c.status == status)
    with AppState.of(request).db.read() as conn:
        if customer is not None:
            found = CUSTOMERS.resolve(conn, principal.org_id, [customer], create=False)
            stmt = stmt.where(invoices.c.customer_id == found.get(customer, customer))
        rows = [dict(r._mapping) for r in conn.execute(stmt.order_by(invoices.c.id).limit(limit))]
        return {"data": _render(conn, principal.org_id, rows)}


def _one(conn: Connection, org_id: str, invoice_id: str) -> dict[str, Any]:
    row = billing.get(conn, org_id, invoice_id)
    if row is None:
        raise Problem(404, f"no invoice '{invoice_id}'", field="id")
    return _render(conn, org_id, [row])[0]


@router.get("/{invoice_id}.html", response_class=HTMLResponse, summary="A printable invoice")
def show_html(
    invoice_id: str, request: Request, principal: Reader, internal: bool = False
) -> HTMLResponse:
    """``internal=true`` adds the seller-only AI cost and margin columns."""
    with AppState.of(request).db.read() as conn:
        invoice = _one(conn, principal.org_id, invoice_id)
    return HTMLResponse(invoice_html(invoice, internal=internal))


@router.get("/{invoice_id}", summary="Get an invoice")
def show(invoice_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return _one(conn, principal.org_id, invoice_id)


@router.post("/{invoice_id}/finalize", summary="Finalize a draft: immutable and numbered")
def finalize(invoice_id: str, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        try:
            row = billing.finalize(conn, principal.org_id, invoice_id)
        except billing.InvoiceError as exc:
            raise _raise(exc) from None
        except MoneyError as exc:
            raise Problem(422, f"an amount is out of range: {exc}", field="id") from None
        return _render(conn, principal.org_id, [row])[0]


@router.post("/{invoice_id}/void", summary="Void an invoice")
def void(invoice_id: str, body: VoidIn, request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.write() as conn:
        try:
            row = billing.void(conn, principal.org_id, invoice_id, body.reason)
        except billing.InvoiceError as exc:
            raise _raise(exc) from None
        return _render(conn, principal.org_id, [row])[0]
