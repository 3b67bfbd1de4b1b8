"""``margin invoices …`` (and ``margin report …``, from ``margin.cli_reports``): billing from
the command line, straight on the store (no server needed), through the same services as
the API.

``app`` holds both groups (``invoices`` and ``report``); ``invoices_app`` and
``report_app`` can also be mounted separately. Tables show money rounded to the currency's
minor unit and never cut ids; ``--json`` prints the exact values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from margin._refusal import Refusal  # a BillingError, or a period reaching archived months
from margin._time import now_micros
from margin.billing import invoices as billing
from margin.billing.invoice_html import invoice_html, seller_of
from margin.cli_output import (
    AsCsv,
    AsJson,
    Column,
    Yes,
    confirm,
    emit,
    money,
    print_json,
    progress,
    totals,
)
from margin.cli_reports import ByCurrency, converter, fail, report_app
from margin.cli_store import open_org
from margin.control.invoicing import finalize_invoice, void_invoice
from margin.reports.simulation import SimulationIn, simulate

__all__ = ["app", "invoices_app", "plans_app", "report_app"]

app = typer.Typer(help="Invoices and margin reports.", no_args_is_help=True)
invoices_app = typer.Typer(help="Generate, finalize, void and show invoices.", no_args_is_help=True)
plans_app = typer.Typer(help="Plans: simulate a candidate plan.", no_args_is_help=True)
app.add_typer(invoices_app, name="invoices")
app.add_typer(report_app, name="report")
app.add_typer(plans_app, name="plans")

console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the store lives.")]
Org = Annotated[str | None, typer.Option("--org", help="Organization id (default: the first).")]


_COLUMNS = (
    Column("id", kind="id"),
    Column("number", kind="id"),
    Column("status"),
    Column("customer"),
    Column("period", kind="id"),
    Column("currency"),
    Column("total", kind="money"),
    Column("cost", "AI cost", kind="money"),
    Column("margin", kind="money"),
)


def _flat(inv: dict[str, Any]) -> dict[str, Any]:
    """An invoice as one table or CSV row (exact amounts)."""
    customer = inv["customer"] or {}
    return {
        "id": inv["id"],
        "number": inv["number"] or "",
        "status": inv["status"],
        "customer": customer.get("name") or customer.get("external_id") or inv["customer_id"],
        "period": inv["period"],
        "currency": inv["currency"],
        "total": inv["total"],
        "cost": inv["cost"],
        "margin": inv["margin"],
    }


def _print(rows: list[dict[str, Any]], as_json: bool, as_csv: bool = False) -> None:
    flat = [_flat(inv) for inv in rows]
    sums = totals(flat, ["total", "cost", "margin"], label="id") if len(flat) > 1 else []
    emit(flat, _COLUMNS, as_json=as_json, as_csv=as_csv, body=rows, total_rows=sums)


@invoices_app.command("generate")
def generate(
    period: Annotated[str, typer.Option("--period", help="The month, YYYY-MM (UTC).")],
    data_dir: DataDir = None,
    org: Org = None,
    as_json: AsJson = False,
) -> None:
    """Write or refresh the draft invoices of a period."""
    db, org_id = open_org(data_dir, org)
    try:
        with db.write() as conn, progress("Rating", enabled=not as_json) as advance:
            drafts = billing.generate(conn, org_id, period, progress=advance)
            rows = billing.render_invoices(conn, org_id, drafts)
    except Refusal as exc:
        fail(exc.detail)
        raise
    _print(rows, as_json)


def _change(
    action: str, invoice_id: str, data_dir: Path | None, org: str | None, reason: str = ""
) -> None:
    db, org_id = open_org(data_dir, org)
    try:
        with db.write() as conn:
            if action == "finalize":
                row = finalize_invoice(conn, org_id, invoice_id)
            else:
                row = void_invoice(conn, org_id, invoice_id, reason)
            rendered = billing.render_invoices(conn, org_id, [row])
    except Refusal as exc:
        fail(exc.detail)
        raise
    _print(rendered, False)


@invoices_app.command("finalize")
def finalize(invoice_id: str, data_dir: DataDir = None, org: Org = None, yes: Yes = False) -> None:
    """Finalize a draft: immutable and numbered (asks first, unless --yes)."""
    confirm(f"Finalize {invoice_id}? It gets a number and cannot be changed afterwards", yes)
    _change("finalize", invoice_id, data_dir, org)


@invoices_app.command("void")
def void(
    invoice_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why it is void.")],
    data_dir: DataDir = None,
    org: Org = None,
    yes: Yes = False,
) -> None:
    """Void an invoice, saying why (asks first, unless --yes)."""
    if not reason.strip():
        fail("--reason: say why the invoice is void")
    confirm(f"Void {invoice_id}? This cannot be undone", yes)
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
    db, org_id = open_org(data_dir, org)
    with db.read() as conn:
        try:
            row = billing.get(conn, org_id, invoice_id)
        except Refusal as exc:
            fail(exc.detail)
            raise
        [rendered] = billing.render_invoices(conn, org_id, [row])
        seller = seller_of(conn, org_id)
    typer.echo(orjson.dumps(rendered, option=orjson.OPT_INDENT_2).decode())
    if html is not None:
        html.write_text(invoice_html(rendered, seller, internal=internal), encoding="utf-8")


@invoices_app.command("list")
def list_(
    period: Annotated[str | None, typer.Option("--period", help="Only this month.")] = None,
    data_dir: DataDir = None,
    org: Org = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """List invoices, with totals per currency."""
    db, org_id = open_org(data_dir, org)
    with db.read() as conn:
        rows = billing.list_invoices(conn, org_id, period=period, limit=100_000)
        rendered = billing.render_invoices(conn, org_id, rows)
    _print(rendered, as_json, as_csv)


@plans_app.command("simulate")
def simulate_plan(
    plan: Annotated[str, typer.Argument(help="A stored plan's key or id, or a JSON file.")],
    start: Annotated[str, typer.Option("--from", help="First billing period, YYYY-MM.")],
    end: Annotated[str | None, typer.Option("--to", help="Last period (default: --from).")] = None,
    replaces: Annotated[
        str | None,
        typer.Option(
            help="The plan whose orders take the candidate, or 'all' (default: the "
            "stored plan with the candidate's key)."
        ),
    ] = None,
    customer: Annotated[
        list[str] | None, typer.Option("--customer", help="Only these customers (repeat).")
    ] = None,
    by_currency: ByCurrency = False,
    data_dir: DataDir = None,
    org: Org = None,
    as_json: AsJson = False,
) -> None:
    """Re-rate past periods under a candidate plan, beside the actual figures (stores
    nothing). The candidate is a stored plan or a JSON file shaped as ``POST /v1/plans``."""
    given: str | dict[str, Any] = plan
    if plan.endswith(".json") or Path(plan).is_file():
        try:
            given = orjson.loads(Path(plan).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            fail(f"{plan}: {exc}")
    body = {"plan": given, "replaces": replaces, "from": start, "to": end, "customers": customer}
    try:
        spec = SimulationIn.model_validate(body)
    except ValidationError as exc:
        fail(str(exc.errors()[0]["msg"]))
        raise
    db, org_id = open_org(data_dir, org)
    with db.read() as conn:
        try:
            result = simulate(
                conn, org_id, spec, now=now_micros(), convert=converter(conn, org_id, by_currency)
            )
        except Refusal as exc:
            fail(exc.detail)
            raise
    if as_json:
        print_json(result)
        return
    _print_simulation(result)


def _print_simulation(result: dict[str, Any]) -> None:
    table = Table()
    table.add_column("customer", overflow="fold", min_width=12)  # wrapped, never cut
    table.add_column("currency")
    for name in ("revenue", "→ candidate", "profit", "→ candidate", "margin %", "→ candidate"):
        table.add_column(name, justify="right", no_wrap=True)
    rows = [(r["label"], r) for r in result["customers"]]
    rows += [("[b]Total[/b]", t) for t in result["totals"]]
    for label, r in rows:
        cur, actual, candidate = r["currency"], r["actual"], r["candidate"]
        table.add_row(
            label,
            cur or "",
            money(actual["revenue"], cur),
            money(candidate["revenue"], cur),
            money(actual["profit"], cur),
            money(candidate["profit"], cur),
            actual["margin_pct"] or "—",
            candidate["margin_pct"] or "—",
        )
    plan = result["plan"]
    console.print(
        f"{plan['key']} ({plan['currency']}) in place of {result['replaces']} on "
        f"{result['orders_replaced']} orders, {result['from']} … {result['to']}",
        highlight=False,
    )
    console.print(table)
    console.print("— not tracked, or unknown (a figure without an exchange rate)", style="dim")
