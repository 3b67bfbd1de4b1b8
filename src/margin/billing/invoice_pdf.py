"""A PDF of an invoice, with the same content as the printable HTML page (the seller, the
customer, the issue and due dates, the lines and the total formatted to the currency's
minor unit), drawn with fpdf2: pure Python, so a server needs no browser to make one.

fpdf2's built-in fonts cover Latin-1 only; a character outside it is shown as ``?`` rather
than failing the download (a name in another script still has its invoice, and the HTML
page shows it exactly)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fpdf import FPDF

from margin._rounding import display
from margin.billing.invoice_html import Seller, _day, _quantity, _unit

__all__ = ["invoice_pdf"]

_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u221e": "inf"})
_MUTED = (102, 102, 102)


def _text(value: Any) -> str:
    """Latin-1 text for the built-in fonts (see the module's docstring)."""
    text = "" if value is None else str(value).translate(_DASHES)
    return text.encode("latin-1", "replace").decode("latin-1")


def _amount(value: str | None, currency: str) -> str:
    return display(None if value is None else Decimal(value), currency)


def _rows(invoice: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    currency = invoice["currency"]
    rows = []
    for line in invoice["lines"]:
        rows.append(
            (
                line["description"],
                _quantity(line["quantity"]),
                _unit(line["unit_price"], currency),
                _amount(line["amount"], currency),
            )
        )
        for tier in line.get("tiers") or []:
            rows.append(
                (
                    f"    tier {tier['from']} - {tier['up_to'] or 'inf'}",
                    _quantity(tier["units"]),
                    _unit(tier["unit_price"], currency),
                    _amount(tier["amount"], currency),
                )
            )
    return rows


def _parties(pdf: FPDF, seller: Seller, invoice: dict[str, Any]) -> None:
    customer = invoice.get("customer") or {}
    who = customer.get("name") or customer.get("external_id") or invoice["customer_id"]
    sold_by = [seller.name, *seller.address, seller.email or "", seller.tax_id or ""]
    bill_to = [who, customer.get("email") or ""]
    top = pdf.get_y()
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    for column, (label, lines) in enumerate((("From", sold_by), ("Billed to", bill_to))):
        pdf.set_xy(pdf.l_margin + column * half, top)
        pdf.set_text_color(*_MUTED)
        pdf.set_font("Helvetica", size=9)
        pdf.cell(half, 5, label, new_x="LEFT", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.set_font("Helvetica", "B", 10)
        for text in (x for x in lines if x):
            pdf.cell(half, 5, _text(text), new_x="LEFT", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + 20) + 4)


def _dates(pdf: FPDF, invoice: dict[str, Any]) -> None:
    issued = _day(invoice["issued_at"]) if invoice["issued_at"] else "not yet (draft)"
    facts = (
        ("Issued", issued),
        ("Due", _day(invoice["due_at"]) if invoice["due_at"] else "-"),
        ("Period", f"{_day(invoice['period_start'])} - {_day(invoice['period_end'], back=1)}"),
        ("Currency", invoice["currency"]),
    )
    for label, value in facts:
        pdf.set_font("Helvetica", size=10)
        pdf.set_text_color(*_MUTED)
        pdf.cell(25, 5.5, label)
        pdf.set_text_color(0)
        pdf.cell(0, 5.5, _text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


_LINE = 6.0


def _row(pdf: FPDF, cells: tuple[str, str, str, str], rule: float = 0.2) -> None:
    """One table row with a rule under it. Drawn with plain cells: fpdf2's ``table()``
    measured 1 s for 50 lines; a description wraps only when it does not fit."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    widths = (width * 0.46, width * 0.16, width * 0.19, width * 0.19)
    text = [_text(c) for c in cells]
    wraps = pdf.get_string_width(text[0]) > widths[0] - 2 * pdf.c_margin
    lines = 1
    if wraps:
        found = pdf.multi_cell(widths[0], _LINE, text[0], dry_run=True, output="LINES")
        lines = len(found) if isinstance(found, list) else 1
    height = _LINE * lines
    if pdf.will_page_break(height):
        pdf.add_page()
    x, y = pdf.l_margin, pdf.get_y()
    if wraps:
        pdf.multi_cell(widths[0], _LINE, text[0], new_x="RIGHT", new_y="TOP")
    else:
        pdf.cell(widths[0], _LINE, text[0])
    for w, value in zip(widths[1:], text[1:], strict=True):
        pdf.cell(w, _LINE, value, align="R")
    pdf.set_line_width(rule)
    pdf.set_draw_color(120 if rule > 0.3 else 200)
    pdf.line(x, y + height, x + width, y + height)
    pdf.set_xy(x, y + height)


def invoice_pdf(invoice: dict[str, Any], seller: Seller) -> bytes:
    """The invoice as a one-or-more page A4 PDF (the customer's view: no AI cost)."""
    currency = invoice["currency"]
    title = invoice["number"] or f"Draft {invoice['id']}"
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"Invoice {title}"))
    pdf.set_author(_text(seller.name))
    pdf.set_creator("Margin")
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _text(f"Invoice {title}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.set_text_color(*_MUTED)
    pdf.cell(0, 5, invoice["status"].upper(), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(4)
    _parties(pdf, seller, invoice)
    _dates(pdf, invoice)
    pdf.set_font("Helvetica", "B", 9.5)
    _row(pdf, ("Description", "Quantity", "Unit price", "Amount"))
    pdf.set_font("Helvetica", size=9.5)
    for cells in _rows(invoice):
        _row(pdf, cells)
    pdf.set_font("Helvetica", "B", 9.5)
    _row(pdf, ("Total", "", "", _amount(invoice["total"], currency)), rule=0.5)
    pdf.ln(4)
    pdf.set_font("Helvetica", size=8.5)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(
        0,
        4.5,
        "Each line is rounded half-even to the currency's minor unit; the total is the sum "
        "of the lines.",
    )
    return bytes(pdf.output())
