"""How every ``margin`` command prints: one convention for tables, JSON, CSV, confirmations
and progress.

- Tables show money rounded half-even to the currency's minor unit (``margin._rounding``)
  and a totals row per currency; ``--json`` and ``--csv`` print the exact values.
- Ids, invoice numbers and money are never cut or folded: when a table would not fit the
  terminal with them whole, each row prints as a block of ``name value`` lines instead
  (like ``psql``'s expanded display), so what must be copied stays on one line.
- Irreversible commands ask first unless ``--yes``; without a terminal to ask on they stop
  and say to pass ``--yes``.
- Long work shows a progress bar on stderr, so stdout stays clean for pipes.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from margin._money import format_decimal
from margin._rounding import display

__all__ = [
    "AsCsv",
    "AsJson",
    "Column",
    "DryRun",
    "Yes",
    "confirm",
    "emit",
    "money",
    "print_json",
    "progress",
    "render",
    "show",
    "totals",
]

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (exact amounts).")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV (exact amounts).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")]

Kind = Literal["id", "text", "money", "count"]
#: Columns whose values are copied by hand: never wrapped, never cut.
_WHOLE: frozenset[str] = frozenset({"id", "money", "count"})
_TEXT_MIN = 10  # a text column may wrap down to this width before rows go expanded


@dataclass(frozen=True, slots=True)
class Column:
    """One column: the row key it shows, its title, and what kind of value it holds
    (``id`` and ``money`` are never cut; ``money`` is rounded to the minor unit of the
    currency found under ``currency`` in the same row)."""

    key: str
    title: str = ""
    kind: Kind = "text"
    currency: str = "currency"

    @property
    def heading(self) -> str:
        return self.title or self.key


def money(amount: str | Decimal | None, currency: str | None) -> str:
    """A table cell for an amount: grouped digits rounded to the minor unit, without the
    code (the table has a currency column); ``—`` when not tracked."""
    if amount is None:
        return "—"
    shown = display(Decimal(amount), currency)
    return shown.removesuffix(f" {currency}") if currency else shown


def _cell(row: dict[str, Any], column: Column) -> str:
    value = row.get(column.key)
    if column.kind == "money":
        return money(value, row.get(column.currency))
    return "" if value is None else str(value)


def totals(
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    *,
    label: str = "label",
    currency: str = "currency",
    counts: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One exact total row per currency (in first-seen order) summing the money ``keys``
    (and the integer ``counts``); a money sum stays ``None`` when every row of that currency
    has ``None`` (not tracked)."""
    sums: dict[str | None, dict[str, Decimal | None]] = {}
    numbers: dict[str | None, dict[str, int]] = {}
    for row in rows:
        acc = sums.setdefault(row.get(currency), dict.fromkeys(keys))
        tally = numbers.setdefault(row.get(currency), dict.fromkeys(counts, 0))
        for key in keys:
            value = row.get(key)
            if value is not None:
                acc[key] = (acc[key] or Decimal(0)) + Decimal(value)
        for key in counts:
            tally[key] += row.get(key) or 0
    return [
        {
            label: "Total",
            currency: code,
            **{k: None if v is None else format_decimal(v) for k, v in acc.items()},
            **numbers[code],
        }
        for code, acc in sums.items()
    ]


def _fits(rows: Sequence[dict[str, Any]], columns: Sequence[Column], width: int) -> bool:
    need = 1  # the right edge
    for column in columns:
        longest = max([len(column.heading), *(len(_cell(r, column)) for r in rows)])
        need += (longest if column.kind in _WHOLE else min(longest, _TEXT_MIN)) + 3
    return need <= width


def render(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    total_rows: Sequence[dict[str, Any]] = (),
    console: Console | None = None,
) -> None:
    """Print ``rows`` as a table (totals last, after a rule), or row by row as blocks when
    the table would not fit the terminal with its ids and amounts whole."""
    out = console or Console()
    if not _fits([*rows, *total_rows], columns, out.width):
        _expanded(rows, columns, title, total_rows, out)
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        whole = column.kind in _WHOLE
        table.add_column(
            column.heading,
            justify="right" if column.kind in ("money", "count") else "left",
            no_wrap=whole,
            overflow="fold",
            min_width=max([len(_cell(r, column)) for r in (*rows, *total_rows)] or [0])
            if whole
            else None,
        )
    for row in rows:
        table.add_row(*(_cell(row, c) for c in columns))
    if total_rows:
        table.add_section()
    for row in total_rows:
        table.add_row(*(_cell(row, c) for c in columns), style="bold")
    out.print(table)


def _expanded(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    title: str | None,
    total_rows: Sequence[dict[str, Any]],
    out: Console,
) -> None:
    if title:
        out.print(title, highlight=False, soft_wrap=True)
    pad = max(len(c.heading) for c in columns)
    for n, row in enumerate([*rows, *total_rows]):
        total = n >= len(rows)
        out.rule(f"Total {row.get('currency') or ''}".strip() if total else f"{n + 1}", style="dim")
        for column in columns:
            value = _cell(row, column)
            if total and value in ("", "Total"):
                continue  # the rule above says what the block is
            out.print(
                f"{column.heading:<{pad}}  {value}",
                markup=False,
                highlight=False,
                soft_wrap=True,  # a long value runs on rather than being cut
                style="bold" if total else None,
            )


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout, Decimals as exact strings."""
    typer.echo(orjson.dumps(value, default=_exact, option=orjson.OPT_INDENT_2).decode())


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    raise TypeError(type(value).__name__)


def emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    as_json: bool = False,
    as_csv: bool = False,
    title: str | None = None,
    total_rows: Sequence[dict[str, Any]] = (),
    body: Any = None,
    console: Console | None = None,
) -> None:
    """Print a read command's answer: ``body`` (or the rows) as JSON, the columns as CSV,
    or a table; JSON and CSV carry the exact amounts."""
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json")
    if as_json:
        print_json(rows if body is None else body)
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([c.key for c in columns])
        for row in rows:
            writer.writerow(["" if row.get(c.key) is None else row[c.key] for c in columns])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        render(rows, columns, title=title, total_rows=total_rows, console=console)


def confirm(question: str, yes: bool) -> None:
    """Ask ``question`` before an irreversible change unless ``yes``; stop (exit 1) when
    the answer is no, or when there is nobody to ask."""
    if yes:
        return
    try:
        if not typer.confirm(question, default=False, err=True):
            raise typer.Abort
    except typer.Abort:
        Console(stderr=True).print(
            "not confirmed: nothing changed (pass --yes to confirm without a question)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1) from None


@contextmanager
def progress(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields ``advance(done, total)`` for the work to call. The
    bar appears at the first call, so work that turns out to be empty prints nothing."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=sys.stderr.isatty(),
    )
    task = bar.add_task(description, total=None)

    def advance(done: int, total: int) -> None:
        if not enabled:
            return
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield advance
    finally:
        if bar.live.is_started:
            bar.stop()


def show(value: Any, *, as_json: bool = False, console: Console | None = None) -> None:
    """A command's answer: with ``as_json`` as the API gives it (exact); otherwise a table of
    the rows of a list, or of the one row of an object (as ``name value`` lines when it is
    too wide), a nested value as compact JSON and a missing one as —."""
    if as_json:
        print_json(value)
        return
    rows = value if isinstance(value, list) else [value]
    out = console or Console()
    if not rows:
        out.print("none")
        return
    keys = list(dict.fromkeys(key for row in rows for key in row))
    cells = [{key: _answer_cell(row.get(key)) for key in keys} for row in rows]
    kinds: dict[bool, Kind] = {True: "id", False: "text"}
    columns = [Column(key, kind=kinds[key == "id" or key.endswith("_id")]) for key in keys]
    render(cells, columns, console=out)


def _answer_cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
