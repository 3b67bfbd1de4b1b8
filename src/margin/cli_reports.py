"""``margin report margin|cost-per-outcome``: margin reports from the command line, straight
on the store (no server needed), with the numbers of the API and the dashboard; and
``margin report summary``, which asks a running server with a read key (``MARGIN_API_KEY``).

Tables show money rounded to the currency's minor unit; ``--json`` and ``--csv`` print the
exact values. Without ``--from``/``--to`` a report covers the default period: the last
``--days`` days in ``--tz``, today included (the API and the dashboard use the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy import Connection

from margin._calendar import DEFAULT_DAYS, days_before, default_period, load_zone, whole_hours
from margin._refusal import Refusal
from margin._rounding import display
from margin._time import from_micros, now_micros, parse_bound
from margin.cli_output import AsCsv, AsJson, Column, emit, print_json, render, totals
from margin.cli_store import open_org
from margin.reports.currency import Converter
from margin.reports.facts import DIMENSIONS, Filters
from margin.reports.outcomes import cost_per_outcome as outcome_rows
from margin.reports.summary import summary as build_summary
from margin.reports.tables import (
    build_table,
    figures,
    render_row,
    to_csv,
)
from margin.store.organization import reporting_currency

__all__ = ["converter", "report_app"]

report_app = typer.Typer(help="Margin reports.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the store lives.")]
Org = Annotated[str | None, typer.Option("--org", help="Organization id (default: the first).")]
Days = Annotated[int, typer.Option(min=1, help="The last N days, today included (unless --from).")]
Start = Annotated[str | None, typer.Option("--from", help="Date or RFC 3339 time.")]
End = Annotated[str | None, typer.Option("--to", help="Date or RFC 3339 time (exclusive).")]
Tz = Annotated[
    str, typer.Option("--tz", envvar="MARGIN_TZ", help="IANA time zone of the days (MARGIN_TZ).")
]
ByCurrency = Annotated[
    bool,
    typer.Option("--by-currency", help="Per original currency, not in the reporting currency."),
]


def fail(message: str) -> None:
    """Print an error on one line, as given (no markup, no wrapping: a script may grep it),
    and exit with status 2."""
    err.print(Text.assemble(("error:", "red"), f" {message}"), highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def _refusals() -> Iterator[None]:
    """A refused report (its revenue needs raw facts of archived months) prints one line."""
    try:
        yield
    except Refusal as exc:
        fail(exc.detail)


def _period(days: int, start: str | None, end: str | None, tz: str) -> tuple[int, int]:
    try:
        zone = load_zone(tz)
        if not (start or end):
            return default_period(now_micros(), zone, days)
        hi = parse_bound(end, "--to") if end else now_micros()
        lo = parse_bound(start, "--from") if start else days_before(hi, days)
    except ValueError as exc:
        fail(str(exc))
        raise
    if hi <= lo:
        fail("--to must be after --from")
    return whole_hours(lo, hi)


def _heading(lo: int, hi: int, tz: str) -> str:
    zone = load_zone(tz)
    first, last = from_micros(lo).astimezone(zone), from_micros(hi).astimezone(zone)
    return f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} {tz}"


def _shown(amount: str | None, currency: str | None) -> str:
    return display(None if amount is None else Decimal(amount), currency)


def _totals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"currency": r["currency"], **figures(r)} for r in rows]


def converter(conn: Connection, org_id: str, by_currency: bool) -> Converter | None:
    """Reports convert to the organization's reporting currency unless ``--by-currency``."""
    return None if by_currency else Converter(conn, org_id, reporting_currency(conn, org_id))


def _columns(dims: list[str]) -> list[Column]:
    return [
        Column("label", " / ".join(dims) or "all"),
        Column("currency"),
        Column("cost", kind="money"),
        Column("revenue", kind="money"),
        Column("profit", kind="money"),
        Column("margin_pct", "margin %", kind="count"),
        Column("signals", "outcomes", kind="count"),
    ]


@report_app.command("margin")
def margin(
    group_by: Annotated[
        str, typer.Option("--group-by", help=f"{', '.join(DIMENSIONS)} (comma-separated).")
    ] = "customer",
    days: Days = DEFAULT_DAYS,
    start: Start = None,
    end: End = None,
    tz: Tz = "UTC",
    top: Annotated[int | None, typer.Option(help="Top N + Other.")] = None,
    csv: AsCsv = False,
    as_json: AsJson = False,
    by_currency: ByCurrency = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Cost, revenue, profit and margin % by group, in the reporting currency (figures
    without a rate for their date listed apart), or per original currency."""
    dims = [d for d in group_by.split(",") if d]
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad:
        fail(f"--group-by: unknown dimension '{bad[0]}'")
    lo, hi = _period(days, start, end, tz)
    db, org_id = open_org(data_dir, org)
    with db.read() as conn, _refusals():
        convert = converter(conn, org_id, by_currency)
        table = build_table(conn, org_id, lo, hi, dims, Filters(), top=top, convert=convert)
        totals = (
            build_table(conn, org_id, lo, hi, [], Filters(), convert=convert) if dims else table
        )
    rows = [render_row(r, dims, False) for r in table]
    if csv:
        typer.echo(to_csv(rows, dims), nl=False)
        return
    if as_json:
        body = {"group_by": dims, "rows": rows, "totals": _totals(totals)}
        if convert is not None:
            body.update(currency=convert.currency, rates=convert.rates())
        print_json(body)
        return
    shown = [{**r, "margin_pct": r["margin_pct"] or "—"} for r in rows]
    total_rows = [
        {**t, "label": "Total", "margin_pct": t["margin_pct"] or "—"} for t in _totals(totals)
    ]
    render(
        shown,
        _columns(dims),
        title=_heading(lo, hi, tz),
        total_rows=total_rows if dims else (),
        console=console,
    )
    _warn_unconverted(rows)
    console.print("— not tracked (a tracking mode, or nothing recorded yet)", style="dim")


def _warn_unconverted(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        for item in r.get("unconverted", []):
            figures = ", ".join(
                f"{name} {_shown(item[name], item['currency'])}"
                for name in ("cost", "revenue")
                if item[name] is not None
            )
            console.print(
                f"[yellow]no exchange rate:[/] {r['label']}: {figures} left out "
                f"(its profit and margin are unknown; see `margin fx`)",
                highlight=False,
            )


@report_app.command("cost-per-outcome")
def cost_per_outcome(
    event_name: Annotated[str, typer.Argument(help="The signal, e.g. meeting_booked.")],
    days: Days = DEFAULT_DAYS,
    start: Start = None,
    end: End = None,
    tz: Tz = "UTC",
    by_currency: ByCurrency = False,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Average attributed AI cost of one outcome, in the reporting currency."""
    lo, hi = _period(days, start, end, tz)
    db, org_id = open_org(data_dir, org)
    with db.read() as conn, _refusals():
        convert = converter(conn, org_id, by_currency)
        found = outcome_rows(conn, org_id, (lo, hi), event_name, convert=convert)
    if as_json:
        body: dict[str, Any] = {"event_name": event_name, "rows": found}
        if convert is not None:
            body.update(currency=convert.currency, rates=convert.rates())
        print_json(body)
        return
    if not found:
        console.print(f"no '{event_name}' outcomes in the period")
        return
    for f in found:
        cur = f["currency"]
        console.print(
            f"{event_name}: {f['outcomes']} outcomes, AI cost {_shown(f['cost'], cur)}, "
            f"{_shown(f['cost_per_outcome'], cur)} per outcome",
            highlight=False,
        )
    _warn_unconverted(found)


@report_app.command("summary")
def report_summary(
    group_by: Annotated[
        str, typer.Option(help="customer, agent, event_name, model or provider.")
    ] = "customer",
    days: Days = DEFAULT_DAYS,
    start: Start = None,
    end: End = None,
    tz: Tz = "UTC",
    by_currency: ByCurrency = False,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Cost and revenue per group, with record and signal counts, in the reporting currency
    (or per original currency): the numbers of GET /v1/reports/summary."""
    if group_by not in DIMENSIONS:
        fail(f"--group-by: unknown dimension '{group_by}'")
    lo, hi = _period(days, start, end, tz)
    db, org_id = open_org(data_dir, org)
    with db.read() as conn, _refusals():
        body = build_summary(conn, org_id, lo, hi, group_by, converter(conn, org_id, by_currency))
    rows = body["rows"]
    columns = (
        Column("label", group_by),
        Column("currency"),
        Column("cost", kind="money"),
        Column("revenue", kind="money"),
        Column("records", kind="count"),
        Column("unpriced", kind="count"),
        Column("signals", kind="count"),
    )
    sums = totals(rows, ["cost", "revenue"]) if len(rows) > 1 else []
    emit(
        rows,
        columns,
        as_json=as_json,
        as_csv=as_csv,
        body=body,
        title=f"{body['from']} → {body['to']} by {group_by}",
        total_rows=sums,
        console=console,
    )
    if not (as_json or as_csv):
        _warn_unconverted(rows)
