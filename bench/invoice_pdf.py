"""How long ``GET /v1/invoices/{id}.pdf`` spends drawing the PDF (fpdf2, pure Python), for
invoices of 5, 50 and 500 lines: median of R renders after one warm-up, and the size.
Run: ``.venv/bin/python bench/invoice_pdf.py [--repeats R]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from margin.billing.invoice_html import Seller
from margin.billing.invoice_pdf import invoice_pdf


def _invoice(lines: int) -> dict[str, Any]:
    return {
        "id": "inv_bench",
        "number": "INV-2026-0042",
        "status": "finalized",
        "customer_id": "cus_bench",
        "customer": {"name": "Acme Corp", "external_id": "acme", "email": "ap@acme.test"},
        "currency": "USD",
        "issued_at": "2026-11-01T00:00:00Z",
        "due_at": "2026-12-01T00:00:00Z",
        "period_start": "2026-10-01T00:00:00Z",
        "period_end": "2026-11-01T00:00:00Z",
        "total": str(lines * 25),
        "lines": [
            {
                "description": f"meeting_booked x 1 ({i})",
                "quantity": "1",
                "unit_price": "25",
                "amount": "25",
                "tiers": [],
            }
            for i in range(lines)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    seller = Seller("Margin Bench Ltd", ("1 Main St", "Springfield"), "billing@bench.test")
    print("| lines | median | pages | size |\n| --- | --- | --- | --- |")
    for lines in (5, 50, 500):
        invoice = _invoice(lines)
        pdf = invoice_pdf(invoice, seller)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            invoice_pdf(invoice, seller)
            times.append(time.perf_counter() - start)
        pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
        median = statistics.median(times) * 1000
        print(f"| {lines} | {median:.1f} ms | {pages} | {len(pdf) / 1024:.1f} KiB |")


if __name__ == "__main__":
    main()
