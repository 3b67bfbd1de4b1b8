"""The output convention of every ``margin`` command (``margin.cli_output``): money rounded
to the minor unit in tables and exact in JSON/CSV, exact totals per currency, and tables
that never cut ids or amounts (rows print as blocks when the table would not fit)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from margin.cli_output import Column, confirm, emit, money, progress, render, totals

ID = "inv_1a2377ef2e8cd3fd1c185d31ef57460"  # 35 characters, as ids are made
COLUMNS = (
    Column("id", kind="id"),
    Column("customer"),
    Column("currency"),
    Column("total", kind="money"),
)
ROWS = [
    {"id": ID, "customer": "Acme Corp", "currency": "USD", "total": "1513.004999999"},
    {"id": ID.replace("1a", "2b"), "customer": "Yen KK", "currency": "JPY", "total": "1000.5"},
    {"id": ID.replace("1a", "3c"), "customer": "Kuwait Co", "currency": "KWD", "total": "0.0004"},
    {"id": ID.replace("1a", "4d"), "customer": "Initech", "currency": "USD", "total": None},
]


def printed(
    width: int, title: str | None = None, total_rows: list[dict[str, object]] | None = None
) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width)
    render(ROWS, COLUMNS, title=title, total_rows=total_rows or [], console=console)
    return out.getvalue().splitlines()


def test_money_is_rounded_half_even_to_the_minor_unit() -> None:
    assert money("1513.004999999", "USD") == "1,513.00"
    assert money("1000.5", "JPY") == "1,000"  # half-even: 1000
    assert money("1001.5", "JPY") == "1,002"
    assert money("2.0005", "KWD") == "2.000"
    assert money("0.0004", "KWD") == "< 0.001"
    assert money(Decimal("-0.001"), "USD") == "> -0.01"
    assert money(None, "USD") == "—"


def test_totals_are_exact_per_currency_and_keep_not_tracked() -> None:
    rows = [*ROWS, {"currency": "EUR", "total": None}]
    assert totals(rows, ["total"], label="id") == [
        {"id": "Total", "currency": "USD", "total": "1513.004999999"},
        {"id": "Total", "currency": "JPY", "total": "1000.5"},
        {"id": "Total", "currency": "KWD", "total": "0.0004"},
        {"id": "Total", "currency": "EUR", "total": None},
    ]
    counted = totals([{"currency": "USD", "n": 2}, {"currency": "USD", "n": 3}], [], counts=["n"])
    assert counted == [{"label": "Total", "currency": "USD", "n": 5}]


def test_a_wide_table_keeps_ids_whole_and_rounds_money() -> None:
    lines = printed(120, total_rows=totals(ROWS, ["total"], label="id"))
    first = next(line for line in lines if ID in line)
    assert first.split("│")[1:5] == [f" {ID} ", " Acme Corp ", " USD      ", " 1,513.00 "]
    assert any(" 1,000 │" in line for line in lines)
    assert any("< 0.001" in line for line in lines)
    # The totals come after a rule, one per currency.
    assert [line.split("│")[1].strip() for line in lines if "Total" in line] == ["Total"] * 3


def test_a_narrow_table_prints_blocks_with_ids_whole() -> None:
    lines = printed(50, title="Invoices")
    assert lines[0] == "Invoices"
    assert f"id        {ID}" in lines
    assert "total     1,513.00" in lines
    assert "total     —" in lines
    assert all(len(line) <= 50 for line in lines)


def test_json_and_csv_are_exact(capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS[:1], COLUMNS, as_csv=True)
    assert (
        capsys.readouterr().out
        == f"id,customer,currency,total\n{ID},Acme Corp,USD,1513.004999999\n"
    )
    emit(ROWS[:1], COLUMNS, as_json=True, body={"rows": ROWS[:1], "n": Decimal("0.1")})
    out = capsys.readouterr().out
    assert '"total": "1513.004999999"' in out
    assert '"n": "0.1"' in out


def _asker(yes: bool) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def go() -> None:
        confirm("Do it?", yes)
        typer.echo("done")

    return app


def test_confirm_asks_and_stops_without_an_answer() -> None:
    runner = CliRunner()
    assert runner.invoke(_asker(False), input="y\n").stdout.endswith("done\n")
    refused = runner.invoke(_asker(False), input="n\n")
    assert (refused.exit_code, "done" in refused.stdout) == (1, False)
    nobody = runner.invoke(_asker(False), input="")  # no terminal, no answer
    assert nobody.exit_code == 1
    assert "pass --yes to confirm without a question" in nobody.stderr
    assert runner.invoke(_asker(True)).stdout == "done\n"


def test_progress_appears_only_when_there_is_work(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("Nothing"):
        pass
    assert capsys.readouterr().err == ""
    with progress("Pricing") as advance:
        advance(3, 7)
        advance(7, 7)
    assert "Pricing" in capsys.readouterr().err
