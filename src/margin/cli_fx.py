"""``margin org …`` and ``margin fx …``: organization settings and exchange rates from the
command line, straight on the store (like ``margin keys``), for the first organization
unless ``--org`` names another. JSON output (``--json``) is what the API answers.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console

from margin.cli_output import AsCsv, Column, emit
from margin.cli_store import open_org

__all__ = ["fx_app", "org_app"]

org_app = typer.Typer(
    help="Organization settings: reporting currency, seller.", no_args_is_help=True
)
fx_app = typer.Typer(
    help="Exchange rates: set, import (CSV or ECB XML), list, convert.", no_args_is_help=True
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the store lives.")]
Org = Annotated[str | None, typer.Option("--org", help="Organization id (default: the first).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (as the API answers).")]


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _print_json(value: Any) -> None:
    console.print_json(orjson.dumps(value).decode())


@org_app.command("show")
def org_show(org: Org = None, as_json: AsJson = False, data_dir: DataDir = None) -> None:
    """Show the organization's settings."""
    from margin.server.routes.organization import render_organization
    from margin.store.organization import get_settings

    db, org_id = open_org(data_dir, org)

    with db.read() as conn:
        found = get_settings(conn, org_id)
    assert found is not None
    body = render_organization(found).model_dump()
    if as_json:
        _print_json(body)
        return
    seller = body.pop("seller")
    for key, value in body.items():
        console.print(f"{key}: {value if value is not None else '—'}", highlight=False)
    console.print(f"seller.legal_name: {seller['legal_name'] or '—'}", highlight=False)
    for i, line in enumerate(seller["address"]):
        console.print(f"seller.address.{i}: {line}", highlight=False)
    console.print(f"seller.email: {seller['email'] or '—'}", highlight=False)
    console.print(f"seller.tax_id: {seller['tax_id'] or '—'}", highlight=False)


@org_app.command("set")
def org_set(
    reporting_currency: Annotated[
        str | None, typer.Option(help="ISO 4217 code reports convert to, e.g. EUR.")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="The organization's name.")] = None,
    seller_name: Annotated[
        str | None, typer.Option(help="Seller's legal name on invoices ('' clears).")
    ] = None,
    seller_address: Annotated[
        list[str] | None,
        typer.Option(help="An address line (repeat for each line; '' clears the address)."),
    ] = None,
    seller_email: Annotated[str | None, typer.Option(help="Seller's email ('' clears).")] = None,
    seller_tax_id: Annotated[
        str | None, typer.Option(help="VAT number or other tax id ('' clears).")
    ] = None,
    org: Org = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """Change organization settings; the options not given stay as they are."""
    from margin.server.routes.organization import render_organization
    from margin.store.organization import SettingsError, update_settings

    given = {
        "reporting_currency": reporting_currency,
        "display_name": display_name,
        "seller_legal_name": seller_name,
        "seller_address": seller_address,
        "seller_email": seller_email,
        "seller_tax_id": seller_tax_id,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        _fail("nothing to change: pass at least one option (see --help)")
    try:
        db, org_id = open_org(data_dir, org)
        with db.write() as conn:
            found = update_settings(conn, org_id, changes)
    except SettingsError as exc:
        _fail(str(exc))
    assert found is not None
    if as_json:
        _print_json(render_organization(found).model_dump())
        return
    console.print(
        f"{found.display_name} ({found.org_id}): reporting currency {found.reporting_currency}",
        highlight=False,
    )


@fx_app.command("set")
def fx_set(
    base: Annotated[str, typer.Argument(help="One unit of this currency …")],
    quote: Annotated[str, typer.Argument(help="… buys RATE units of this one.")],
    rate: Annotated[str, typer.Argument(help="A decimal, e.g. 1.0867.")],
    date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default: today, UTC).")
    ] = None,
    source: Annotated[str, typer.Option(help="A label for where the rate comes from.")] = "manual",
    org: Org = None,
    data_dir: DataDir = None,
) -> None:
    """Set the rate of a pair on a date (replacing the one there was)."""
    from margin._time import now_micros
    from margin.fx import RateError, check_rate, set_rates
    from margin.fx.rates import micros_day

    day = date or micros_day(now_micros()).isoformat()
    try:
        checked = check_rate(base, quote, day, rate, source)
    except RateError as exc:
        _fail(str(exc))
    db, org_id = open_org(data_dir, org)
    with db.write() as conn:
        written = set_rates(conn, org_id, [checked])
    what = "set" if written.created else "replaced" if written.updated else "unchanged"
    console.print(f"{checked.day} 1 {checked.base} = {checked.rate} {checked.quote} ({what})")


@fx_app.command("delete")
def fx_delete(base: str, quote: str, date: str, org: Org = None, data_dir: DataDir = None) -> None:
    """Delete the rate of a pair on a date."""
    from margin.fx import RateError, check_rate, delete_rate

    try:
        key = check_rate(base, quote, date, "1")
    except RateError as exc:
        _fail(str(exc))
    db, org_id = open_org(data_dir, org)
    with db.write() as conn:
        if not delete_rate(conn, org_id, key.base, key.quote, key.day):
            _fail(f"no {key.base}/{key.quote} rate on {key.day}", code=1)
    console.print(f"deleted {key.base}/{key.quote} on {key.day}")


@fx_app.command("import")
def fx_import(
    file: Annotated[Path, typer.Argument(help="A CSV (date,base,quote,rate) or ECB XML file.")],
    format: Annotated[
        str | None, typer.Option("--format", help="csv or ecb (default: from the content).")
    ] = None,
    org: Org = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """Import rates from a file, all or none (a bad line refuses the file)."""
    from margin.fx import FORMATS, RateFileError, import_rates, read_rates

    if format is not None and format not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}")
    try:
        data = file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    try:
        rates = read_rates(data, format)
    except RateFileError as exc:
        for problem in exc.problems:
            err.print(f"{file}: {problem}", highlight=False)
        raise typer.Exit(2) from None
    db, org_id = open_org(data_dir, org)
    with db.write() as conn:
        done = import_rates(conn, org_id, rates)
    if as_json:
        _print_json(asdict(done))
        return
    console.print(
        f"{done.rates} {done.format} rates from {done.first_date} to {done.last_date} "
        f"({', '.join(done.currencies)}): {done.created} new, {done.updated} replaced, "
        f"{done.unchanged} unchanged",
        highlight=False,
    )


@fx_app.command("list")
def fx_list(
    base: Annotated[str | None, typer.Option(help="Only this base currency.")] = None,
    quote: Annotated[str | None, typer.Option(help="Only this quote currency.")] = None,
    currency: Annotated[str | None, typer.Option(help="Rates naming it either side.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First date (YYYY-MM-DD).")] = None,
    to: Annotated[str | None, typer.Option(help="Last date, inclusive.")] = None,
    source: Annotated[str | None, typer.Option(help="Only rates from this source.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many rates.")] = 100,
    org: Org = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """List rates, newest date first."""
    from margin.fx import RateError, list_rates, parse_day
    from margin.server.routes.fx import render_rate

    try:
        start = parse_day(from_, "--from") if from_ else None
        end = parse_day(to, "--to") if to else None
    except RateError as exc:
        _fail(str(exc))
    db, org_id = open_org(data_dir, org)
    with db.read() as conn:
        rows = list_rates(
            conn,
            org_id,
            base=base,
            quote=quote,
            currencies=[currency] if currency else None,
            start=start,
            end=end,
            source=source,
            limit=limit,
        )
    rendered = [render_rate(r).model_dump() for r in rows]
    columns = [Column("date", kind="id"), Column("base"), Column("quote")]
    columns += [Column("rate", kind="count"), Column("source")]
    emit(rendered, columns, as_json=as_json, as_csv=as_csv, title=f"{len(rows)} rates")


@fx_app.command("convert")
def fx_convert(
    amount: Annotated[str, typer.Argument(help="A decimal amount, e.g. 20.00.")],
    currency: Annotated[str, typer.Argument(help="The amount's currency.")],
    to: Annotated[str | None, typer.Option(help="Default: the reporting currency.")] = None,
    at: Annotated[str | None, typer.Option(help="Date or RFC 3339 time (default now).")] = None,
    org: Org = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """Convert an amount with the organization's rates, showing the rate used."""
    from margin._money import MoneyError, parse_amount, to_nanos
    from margin._time import now_micros, parse_bound
    from margin.fx import convert
    from margin.server.routes.fx import render_conversion
    from margin.store.organization import reporting_currency

    try:
        nanos = to_nanos(parse_amount(amount))
        at_us = parse_bound(at, "--at") if at else now_micros()
    except (MoneyError, ValueError) as exc:
        _fail(str(exc))
    db, org_id = open_org(data_dir, org)
    with db.read() as conn:
        target = to or reporting_currency(conn, org_id)
        body = render_conversion(convert(conn, org_id, nanos, currency, target, at_us))
    if as_json:
        _print_json(body.model_dump())
    elif body.missing:
        _fail(f"no {currency}→{target} rate applies on {at or 'today'}", code=1)
    else:
        via = f" via {body.via}" if body.via else ""
        console.print(
            f"{body.amount} {target} (rate {body.rate}, {body.method}{via}, "
            f"of {body.rate_date or 'any date'})",
            highlight=False,
        )
