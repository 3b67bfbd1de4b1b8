"""A printable, self-contained HTML page of an invoice (no external assets): the seller, the
customer, the issue and due dates, the lines and the total formatted to the currency's
minor unit."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from sqlalchemy import Connection, select

from margin._rounding import display, minor_digits
from margin.store.organization import get_settings
from margin.store.schema import organizations

__all__ = ["CONTENT_SECURITY_POLICY", "Seller", "invoice_html", "seller_of"]

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#111}
h1{font-size:1.6rem;margin:0 0 1rem}table{width:100%;border-collapse:collapse;margin-top:1.5rem}
th,td{padding:.35rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:#666}.parties{display:flex;gap:3rem;flex-wrap:wrap}.parties div{min-width:14rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.15rem 1rem;margin:1rem 0}dt{color:#666}
dd{margin:0}tfoot td{font-weight:600;border-top:2px solid #111}.badge{border:1px solid #999;
border-radius:3px;padding:0 .4rem;font-size:.8rem;text-transform:uppercase;vertical-align:middle}
@media print{.internal{display:none}}
"""

#: The page's own policy: the server's default forbids ``<style>`` elements, which left the
#: invoice unstyled; this allows its one inline style, by hash, and nothing else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Seller:
    """Who issues the invoice."""

    name: str
    address: tuple[str, ...] = ()
    email: str | None = None
    tax_id: str | None = None


def seller_of(conn: Connection, org_id: str) -> Seller:
    """The seller's details from the organization settings; the organization's name when
    none are set."""
    settings = get_settings(conn, org_id)
    if settings is not None:
        seller = settings.seller
        return Seller(
            seller.legal_name or settings.display_name,
            tuple(seller.address or ()),
            seller.email,
            seller.tax_id,
        )
    name = conn.execute(select(organizations.c.name).where(organizations.c.id == org_id)).scalar()
    return Seller(str(name or ""))


def _cell(value: Any, numeric: bool = False) -> str:
    text = "" if value is None else escape(str(value))
    return f'<td class="n">{text}</td>' if numeric else f"<td>{text}</td>"


def _unit(amount: str | None, currency: str) -> str:
    """A unit price: at least the minor unit's digits, and every digit it has."""
    if amount is None:
        return ""
    value = Decimal(amount)
    digits = max(minor_digits(currency), -int(value.normalize().as_tuple().exponent))
    return f"{value:,.{digits}f} {currency}"


def _quantity(value: str | None) -> str:
    return "" if value is None else f"{Decimal(value):,f}"


def _day(iso: str | None, back: int = 0) -> str:
    if iso is None:
        return "—"
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")) - timedelta(days=back)
    return moment.date().isoformat()


def _lines(invoice: dict[str, Any], internal: bool) -> list[str]:
    currency = invoice["currency"]
    rows = []
    for line in invoice["lines"]:
        cells = [
            _cell(line["description"]),
            _cell(_quantity(line["quantity"]), True),
            _cell(_unit(line["unit_price"], currency), True),
            _cell(display(Decimal(line["amount"]), currency), True),
        ]
        if internal:
            cost = line["cost"]
            margin = line["margin"]
            cells += [
                _cell(display(None if cost is None else Decimal(cost), currency), True),
                _cell(display(None if margin is None else Decimal(margin), currency), True),
            ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
        for tier in line.get("tiers") or []:
            span = '<td class="muted">&nbsp;&nbsp;tier {} – {}</td>'.format(
                escape(tier["from"]), escape(tier["up_to"] or "∞")
            )
            extra = "<td></td><td></td>" if internal else ""
            rows.append(
                f"<tr>{span}{_cell(_quantity(tier['units']), True)}"
                f"{_cell(_unit(tier['unit_price'], currency), True)}"
                f"{_cell(display(Decimal(tier['amount']), currency), True)}{extra}</tr>"
            )
    return rows


def invoice_html(invoice: dict[str, Any], seller: Seller, *, internal: bool = False) -> str:
    """The page; ``internal`` adds the seller-only AI cost and margin columns."""
    customer = invoice.get("customer") or {}
    who = customer.get("name") or customer.get("external_id") or invoice["customer_id"]
    currency = invoice["currency"]
    head = ["Description", "Quantity", "Unit price", "Amount"]
    if internal:
        head += ["AI cost", "Margin"]
    total = display(Decimal(invoice["total"]), currency)
    foot = [_cell("Total"), "<td></td><td></td>", _cell(total, True)]
    if internal:
        cost = invoice["cost"]
        margin = invoice["margin"]
        foot += [
            _cell(display(None if cost is None else Decimal(cost), currency), True),
            _cell(display(None if margin is None else Decimal(margin), currency), True),
        ]
    title = invoice["number"] or f"Draft {invoice['id']}"
    sold_by = "<br>".join(
        escape(x)
        for x in (seller.name, *seller.address, seller.email or "", seller.tax_id or "")
        if x
    )
    bill_to = "<br>".join(escape(str(x)) for x in (who, customer.get("email")) if x)
    due = invoice["due_at"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Invoice {escape(title)} <span class=badge>{escape(invoice['status'])}</span></h1>"
        f"<div class=parties><div><div class=muted>From</div><strong>{sold_by}</strong></div>"
        f"<div><div class=muted>Billed to</div><strong>{bill_to}</strong></div></div>"
        f"<dl><dt>Issued</dt><dd>{_day(invoice['issued_at']) if invoice['issued_at'] else 'not yet (draft)'}</dd>"
        f"<dt>Due</dt><dd>{_day(due) if due else '—'}</dd>"
        f"<dt>Period</dt><dd>{_day(invoice['period_start'])} – "
        f"{_day(invoice['period_end'], back=1)}</dd>"
        f"<dt>Currency</dt><dd>{escape(currency)}</dd></dl>"
        "<table><thead><tr>"
        + "".join(f"<th{' class=n' if i else ''}>{escape(h)}</th>" for i, h in enumerate(head))
        + "</tr></thead><tbody>"
        + "".join(_lines(invoice, internal))
        + "</tbody><tfoot><tr>"
        + "".join(foot)
        + "</tr></tfoot></table>"
        "<p class=muted>Each line is rounded half-even to the currency's minor unit; the total "
        "is the sum of the lines.</p></body></html>"
    )
