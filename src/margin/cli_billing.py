"""``margin invoices …`` (and ``margin report …``, from ``margin.cli_reports``): billing from
the command line, straight on the store (no server needed), through the same services as
the API.

``app`` holds both groups (``invoices`` and ``report``); ``invoices_app`` and
``report_app`` can also be mounted separately. Tables show money rounded to the currency's
minor unit and never cut ids; ``--json`` prints the exact values.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from margin._rounding import display
from margin.billing import invoices as billing
from margin.billing.errors import BillingError
from margin.billing.invoice_html import invoice_html, seller_of
from margin.cli_reports import fail, open_store, report_app
from margin.control.invoicing import finalize_invoice, void_invoice

__all__ = ["app", "invoices_app", "report_app"]

app = typer.Typer(help="Invoices and margin reports.", no_args_is_help=True)
invoices_app = typer.Typer(help="Generate, finalize, void and show invoices.", no_args_is_help=True)
app.add_typer(invoices_app, name="invoices")
app.add_typer(report_app, name="report")

console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the store lives.")]
Org = Annotated[str | None, typer.Option("--org", help="Organization id (default: the first).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (exact amounts).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _money(amount: str | None, currency: str) -> str:
    return display(None if amount is None else Decimal(amount), currency)


def _print(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table()
    for name in ("id", "number", "status", "customer", "period"):
        table.add_column(name, overflow="fold", no_wrap=False)
    for name in ("total", "AI cost", "margin"):
        table.add_column(name, justify="right", no_wrap=True)
    for inv in rows:
        cur = inv["currency"]
        customer = inv["customer"] or {}
        table.add_row(
            inv["id"],
            inv["number"] or "",
            inv["status"],
            customer.get("name") or customer.get("external_id") or inv["customer_id"],
            inv["period"],
            _money(inv["total"], cur),
            _money(inv["cost"], cur),
            _money(inv["margin"], cur),
        )
    console.print(table)


@invoices_app.command("generate")
def generate(
    period: Annotated[str, typer.Option("--period", help="The month, YYYY-MM (UTC).")],
    data_dir: DataDir = None,
    org: Org = None,
    as_json: AsJson = False,
) -> None:
    """Write or refresh the draft invoices of a period."""
    db, org_id = open_store(data_dir, org)
    try:
        with db.write() as conn:
            rows = billing.render_invoices(conn, org_id, billing.generate(conn, org_id, period))
    except BillingError as exc:
        fail(exc.detail)
        raise
    _print(rows, as_json)


def _change(
    action: str, invoice_id: str, data_dir: Path | None, org: str | None, reason: str = ""
) -> None:
    db, org_id = open_store(data_dir, org)
    try:
        with db.write() as conn:
            if action == "finalize":
                row = finalize_invoice(conn, org_id, invoice_id)
            else:
                row = void_invoice(conn, org_id, invoice_id, reason)
            rendered = billing.render_invoices(conn, org_id, [row])
    except BillingError as exc:
        fail(exc.detail)
        raise
    _print(rendered, False)


@invoices_app.command("finalize")
def finalize(invoice_id: str, data_dir: DataDir = None, org: Org = None, yes: Yes = False) -> None:
    """Finalize a draft: immutable and numbered (asks first, unless --yes)."""
    if not yes:
        typer.confirm(f"Finalize {invoice_id}? It cannot be changed afterwards", abort=True)
    _change("finalize", invoice_id, data_dir, org)


@invoices_app.command("void")
def void(
    invoice_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why it is void.")],
    data_dir: DataDir = None,
    org: Org = None,
    yes: Yes = False,
) -> None:
    """Void an invoice (asks first, unless --yes)."""
    if not yes:
        typer.confirm(f"Void {invoice_id}?", abort=True)
    _change("void", invoice_id, data_dir, org, reason)


@invoices_app.command("show")
def show(
    invoice_id: str,
    data_dir: DataDir = None,
    org: Org = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the printable page here.")
    ] = None,
    internal: Annotated[bool, typer.Option(help="With AI cost and margin in the HTML.")] = False,
) -> None:
    """Print an invoice as JSON (and write its HTML page with ``--html``)."""
    db, org_id = open_store(data_dir, org)
    with db.read() as conn:
        try:
            row = billing.get(conn, org_id, invoice_id)
        except BillingError as exc:
            fail(exc.detail)
            raise
        [rendered] = billing.render_invoices(conn, org_id, [row])
        seller = seller_of(conn, org_id)
    typer.echo(orjson.dumps(rendered, option=orjson.OPT_INDENT_2).decode())
    if html is not None:
        html.write_text(invoice_html(rendered, seller, internal=internal), encoding="utf-8")


@invoices_app.command("list")
def list_(
    period: Annotated[str | None, typer.Option("--period")] = None,
    data_dir: DataDir = None,
    org: Org = None,
    as_json: AsJson = False,
) -> None:
    """List invoices."""
    db, org_id = open_store(data_dir, org)
    with db.read() as conn:
        rows = billing.list_invoices(conn, org_id, period=period, limit=100_000)
        rendered = billing.render_invoices(conn, org_id, rows)
    _print(rendered, as_json)
