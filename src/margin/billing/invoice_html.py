"""A printable, self-contained HTML page of an invoice (no external assets)."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["invoice_html"]

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#111}
h1{font-size:1.6rem;margin:0}table{width:100%;border-collapse:collapse;margin-top:1.5rem}
th,td{padding:.35rem .5rem;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666}
tfoot td{font-weight:600;border-top:2px solid #111}.badge{border:1px solid #999;
border-radius:3px;padding:0 .4rem;font-size:.8rem;text-transform:uppercase}
@media print{.internal{display:none}}
"""


def _cell(value: Any, numeric: bool = False) -> str:
    text = "" if value is None else escape(str(value))
    return f'<td class="n">{text}</td>' if numeric else f"<td>{text}</td>"


def invoice_html(invoice: dict[str, Any], *, internal: bool = False) -> str:
    """The page; ``internal`` adds the seller-only AI cost and margin columns."""
    customer = invoice.get("customer") or {}
    who = customer.get("name") or customer.get("external_id") or invoice["customer_id"]
    head = ["Description", "Quantity", "Unit price", "Amount"]
    if internal:
        head += ["AI cost", "Margin"]
    rows = []
    for line in invoice["lines"]:
        cells = [
            _cell(line["description"]),
            _cell(line["quantity"], True),
            _cell(line["unit_price"], True),
            _cell(line["amount"], True),
        ]
        if internal:
            cells += [_cell(line["cost"], True), _cell(line["margin"], True)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
        for tier in line.get("tiers") or []:
            span = '<td class="muted">&nbsp;&nbsp;tier {} – {}</td>'.format(
                escape(tier["from"]), escape(tier["up_to"] or "∞")
            )
            extra = "<td></td><td></td>" if internal else ""
            rows.append(
                f"<tr>{span}{_cell(tier['units'], True)}{_cell(tier['unit_price'], True)}"
                f"{_cell(tier['amount'], True)}{extra}</tr>"
            )
    foot = [
        _cell("Total"),
        "<td></td><td></td>",
        _cell(f"{invoice['total']} {invoice['currency']}", True),
    ]
    if internal:
        foot += [_cell(invoice["cost"], True), _cell(invoice["margin"], True)]
    title = invoice["number"] or f"Draft {invoice['id']}"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Invoice {escape(title)} <span class=badge>{escape(invoice['status'])}</span></h1>"
        f"<p>Billed to <strong>{escape(str(who))}</strong><br>"
        f"Period {escape(invoice['period'])} ({escape(invoice['period_start'])} – "
        f"{escape(invoice['period_end'])})<br>Currency {escape(invoice['currency'])}</p>"
        "<table><thead><tr>"
        + "".join(f"<th{' class=n' if i else ''}>{escape(h)}</th>" for i, h in enumerate(head))
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody><tfoot><tr>"
        + "".join(foot)
        + "</tr></tfoot></table></body></html>"
    )
