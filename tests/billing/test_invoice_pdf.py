"""``GET /v1/invoices/{id}.pdf``: a PDF that opens, with the invoice's number, seller,
customer, dates, lines and total as the printable page shows them (both stores)."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

from pypdf import PdfReader

from billing_support import outcome, setup_plan


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_of_a_finalized_invoice(api: Any) -> None:
    setup_plan(api)
    assert api.patch("/v1/organization", json={"display_name": "Seller Ltd"}).status_code == 200
    customer = api.get("/v1/customers/external/acme").json()
    update = {"name": "Acme Corp · Zürich 東京", "email": "ap@acme.test"}
    assert api.patch(f"/v1/customers/{customer['id']}", json=update).status_code == 200
    for day in ("05", "17", "17"):
        outcome(api, "meeting_booked", f"2026-10-{day}T10:00:00Z")
    made = api.post("/v1/invoices/generate", json={"period": "2026-10"})
    assert made.status_code == 200, made.text
    invoice_id = made.json()["data"][0]["id"]
    final = api.post(f"/v1/invoices/{invoice_id}/finalize").json()
    assert final["total"] == "375"  # 300 platform fee + 3 x 25
    r = api.get(f"/v1/invoices/{invoice_id}.pdf", scope="read")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="{final["number"]}.pdf"'
    assert r.content.startswith(b"%PDF-")
    text = _text(r.content)
    assert f"Invoice {final['number']}" in text
    assert "FINALIZED" in text
    assert "Seller Ltd" in text
    # Outside Latin-1, a character reads '?' (the built-in fonts); the rest is kept.
    assert "Acme Corp · Zürich ??" in text
    assert f"Issued {final['issued_at'][:10]}" in text
    assert f"Due {final['due_at'][:10]}" in text
    assert "Period 2026-10-01 - 2026-10-31" in text
    assert "300.00 USD" in text
    assert "25.00 USD 75.00 USD" in text
    assert "Total 375.00 USD" in text
    # The seller-only AI cost is not on the customer's PDF.
    assert "AI cost" not in text


def test_a_draft_pdf_and_an_unknown_invoice(api: Any) -> None:
    setup_plan(api)
    made = api.post("/v1/invoices/generate", json={"period": "2026-10"}).json()["data"][0]
    r = api.get(f"/v1/invoices/{made['id']}.pdf")
    assert r.status_code == 200
    text = _text(r.content)
    assert f"Invoice Draft {made['id']}" in text
    assert "not yet (draft)" in text
    missing = api.get("/v1/invoices/inv_nope.pdf")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_the_printable_page_allows_its_own_style_and_nothing_else(api: Any) -> None:
    setup_plan(api)
    made = api.post("/v1/invoices/generate", json={"period": "2026-10"}).json()["data"][0]
    r = api.get(f"/v1/invoices/{made['id']}.html")
    assert r.status_code == 200
    style = r.text.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = r.headers["content-security-policy"]
    assert f"style-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert r.headers["x-frame-options"] == "DENY"
