"""``margin invoices …`` and ``margin report margin|cost-per-outcome``: billing and margin
reports from the command line, straight on the store (no server needed).

``app`` holds both groups (``invoices`` and ``report``); ``invoices_app`` and
``report_app`` can also be mounted separately.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from margin._money import format_decimal, from_nanos
from margin._time import DAY_US, HOUR_US, from_micros, now_micros, parse_bound
from margin.billing import invoices as billing
from margin.billing.invoice_html import invoice_html
from margin.billing.periods import month_bounds
from margin.reports.facts import Filters
from margin.reports.tables import build_table, render_row, to_csv
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import first_org
from margin.store.schema import customers, invoices

__all__ = ["app", "invoices_app", "report_app"]

app = typer.Typer(help="Invoices and margin reports.", no_args_is_help=True)
invoices_app = typer.Typer(help="Generate, finalize, void and show invoices.", no_args_is_help=True)
report_app = typer.Typer(help="Margin reports.", no_args_is_help=True)
app.add_typer(invoices_app, name="invoices")
app.add_typer(report_app, name="report")

console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the store lives.")]
Org = Annotated[str | None, typer.Option("--org", help="Organization id (default: the first).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _open(data_dir: Path | None, org: str | None) -> tuple[Database, str]:
    db = Database(Settings.from_env(data_dir=data_dir).resolved_database_url)
    db.upgrade()
    with db.read() as conn:
        org_id = org or first_org(conn)
    if org_id is None:
        err.print("no organization in this store; run `margin serve` once")
        raise typer.Exit(1)
    return db, org_id


def _fail(message: str) -> None:
    err.print(f"[red]error:[/] {message}")
    raise typer.Exit(2)


def _print_invoices(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        console.print_json(orjson.dumps(rows).decode())
        return
    table = Table("id", "number", "status", "customer", "period", "total", "AI cost", "margin")
    for inv in rows:
        who = (inv["customer"] or {}).get("external_id") or inv["customer_id"]
        table.add_row(
            inv["id"],
            inv["number"] or "",
            inv["status"],
            who,
            inv["period"],
            f"{inv['total']} {inv['currency']}",
            inv["cost"] or "—",
            inv["margin"] or "—",
        )
    console.print(table)


def _render(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {r["customer_id"] for r in rows}
    who: dict[str, dict[str, Any]] = {}
    if ids:
        found = conn.execute(
            select(customers.c.id, customers.c.external_id, customers.c.name).where(
                customers.c.id.in_(ids)
            )
        )
        who = {r.id: {"id": r.id, "external_id": r.external_id, "name": r.name} for r in found}
    return [billing.render_invoice(r, who.get(r["customer_id"])) for r in rows]


@invoices_app.command("generate")
def generate(
    period: Annotated[str, typer.Option("--period", help="The month, YYYY-MM (UTC).")],
    data_dir: DataDir = None,
    org: Org = None,
    as_json: AsJson = False,
) -> None:
    """Write or refresh the draft invoices of a period."""
    try:
        month_bounds(period)
    except ValueError as exc:
        _fail(str(exc))
    db, org_id = _open(data_dir, org)
    with db.write() as conn:
        rows = _render(conn, billing.generate(conn, org_id, period))
    _print_invoices(rows, as_json)


def _change(
    action: str, invoice_id: str, data_dir: Path | None, org: str | None, reason: str = ""
) -> None:
    db, org_id = _open(data_dir, org)
    try:
        with db.write() as conn:
            if action == "finalize":
                row = billing.finalize(conn, org_id, invoice_id)
            else:
                row = billing.void(conn, org_id, invoice_id, reason)
            rendered = _render(conn, [row])
    except billing.InvoiceError as exc:
        _fail(exc.detail)
    _print_invoices(rendered, False)


@invoices_app.command("finalize")
def finalize(invoice_id: str, data_dir: DataDir = None, org: Org = None) -> None:
    """Finalize a draft: immutable, numbered."""
    _change("finalize", invoice_id, data_dir, org)


@invoices_app.command("void")
def void(
    invoice_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why it is void.")],
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Void an invoice."""
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
    db, org_id = _open(data_dir, org)
    with db.read() as conn:
        row = billing.get(conn, org_id, invoice_id)
        if row is None:
            _fail(f"no invoice '{invoice_id}'")
        assert row is not None
        [rendered] = _render(conn, [row])
    console.print_json(orjson.dumps(rendered).decode())
    if html is not None:
        html.write_text(invoice_html(rendered, internal=internal), encoding="utf-8")


@invoices_app.command("list")
def list_(
    period: Annotated[str | None, typer.Option("--period")] = None,
    data_dir: DataDir = None,
    org: Org = None,
    as_json: AsJson = False,
) -> None:
    """List invoices."""
    db, org_id = _open(data_dir, org)
    with db.read() as conn:
        stmt = invoices.select().where(invoices.c.org_id == org_id)
        if period:
            stmt = stmt.where(invoices.c.period == period)
        rows = _render(conn, [dict(r._mapping) for r in conn.execute(stmt.order_by(invoices.c.id))])
    _print_invoices(rows, as_json)


def _period(days: int, start: str | None, end: str | None) -> tuple[int, int]:
    try:
        hi = parse_bound(end, "--to") if end else now_micros()
        lo = parse_bound(start, "--from") if start else hi - days * DAY_US
    except ValueError as exc:
        _fail(str(exc))
        raise
    return lo - lo % HOUR_US, hi + (-hi % HOUR_US)


@report_app.command("margin")
def margin(
    group_by: Annotated[
        str,
        typer.Option(
            "--by", help="customer, agent, event_name, provider, model (comma-separated)."
        ),
    ] = "customer",
    days: Annotated[int, typer.Option(help="The last N days (unless --from).")] = 30,
    start: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD (UTC).")] = None,
    top: Annotated[int | None, typer.Option(help="Top N + Other.")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Cost, revenue, profit and margin % by group."""
    dims = [d for d in group_by.split(",") if d]
    bad = [d for d in dims if d not in ("customer", "agent", "event_name", "provider", "model")]
    if bad:
        _fail(f"--by: unknown dimension '{bad[0]}'")
    lo, hi = _period(days, start, end)
    db, org_id = _open(data_dir, org)
    with db.read() as conn:
        rows = [
            render_row(r, dims, False)
            for r in build_table(conn, org_id, lo, hi, dims, Filters(), top=top)
        ]
    if csv:
        typer.echo(to_csv(rows, dims), nl=False)
        return
    table = Table(
        " / ".join(dims) or "all", "currency", "cost", "revenue", "profit", "margin %", "outcomes"
    )
    for r in rows:
        table.add_row(
            r["label"],
            r["currency"],
            r["cost"] or "—",
            r["revenue"] or "—",
            r["profit"] or "—",
            r["margin_pct"] or "—",
            str(r["signals"]),
        )
    console.print(f"{from_micros(lo):%Y-%m-%d %H:%M} – {from_micros(hi):%Y-%m-%d %H:%M} UTC")
    console.print(table)


@report_app.command("cost-per-outcome")
def cost_per_outcome(
    event_name: Annotated[str, typer.Argument(help="The signal, e.g. meeting_booked.")],
    days: Annotated[int, typer.Option(help="The last N days (unless --from).")] = 30,
    start: Annotated[str | None, typer.Option("--from")] = None,
    end: Annotated[str | None, typer.Option("--to")] = None,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Average attributed AI cost of one outcome."""
    lo, hi = _period(days, start, end)
    db, org_id = _open(data_dir, org)
    with db.read() as conn:
        rows = build_table(conn, org_id, lo, hi, [], Filters(event_names=[event_name]))
    if not rows:
        console.print(f"no '{event_name}' outcomes in the period")
        return
    for r in rows:
        n, cost = r["signals"], r["cost"]
        per = (
            "—"
            if cost is None or not n
            else format_decimal((from_nanos(cost) / n).quantize(Decimal("0.000000001")))
        )
        console.print(
            f"{event_name}: {n} outcomes, AI cost {format_decimal(from_nanos(cost or 0))} {r['currency']}, {per} {r['currency']} per outcome"
        )
