"""``margin export KIND``: the raw facts of a period (costs, signals, events, invoice lines)
as CSV, JSON Lines or Parquet, straight from the store, to a file or stdout.

The same rows and encoders as ``GET /v1/export``; read and written chunk by chunk, so an
export of any size runs in bounded memory. A file is written beside its final name and
renamed when complete: an interrupted export never leaves a truncated file behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console

from margin._refusal import Refusal
from margin._time import parse_bound
from margin.cli_store import open_store
from margin.reports.export import COLUMNS, KINDS, ExportKind, export_chunks
from margin.reports.export_formats import FORMATS, ExportFormat, ParquetUnavailable, encode
from margin.settings import Settings
from margin.store.keys import first_org

__all__ = ["export", "write_export"]

err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def write_export(
    sink: IO[bytes],
    settings: Settings,
    kind: ExportKind,
    start_us: int,
    end_us: int,
    format: ExportFormat,
    org: str | None = None,
) -> int:
    """Write the export to ``sink``; answers the number of bytes written."""
    db = open_store(settings)
    try:
        with db.read() as conn:
            org_id = org or first_org(conn)
        if org_id is None:
            raise _fail("no organization in this store; run `margin serve` once")
        try:
            chunks = export_chunks(db, org_id, kind, start_us, end_us)
        except Refusal as exc:  # a range reaching archived months
            raise _fail(exc.detail) from None
        written = 0
        for piece in encode(format, COLUMNS[kind], chunks):
            sink.write(piece)
            written += len(piece)
        return written
    finally:
        db.dispose()


def export(
    kind: Annotated[str, typer.Argument(help="costs, signals, events or invoice_lines.")],
    start: Annotated[
        str, typer.Option("--start", "--from", help="Date or RFC 3339 time (inclusive).")
    ],
    end: Annotated[str, typer.Option("--end", "--to", help="Date or RFC 3339 time (exclusive).")],
    format: Annotated[str, typer.Option("--format", "-f", help="csv, jsonl or parquet.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Organization id (default: the first).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where the SQLite store lives.")
    ] = None,
) -> None:
    """Export the raw facts of a period: amounts exact, times RFC 3339 UTC."""
    if kind not in KINDS:
        raise _fail(f"KIND must be one of {', '.join(KINDS)}, not '{kind}'")
    if format not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}, not '{format}'")
    try:
        lo, hi = parse_bound(start, "--start"), parse_bound(end, "--end")
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if hi <= lo:
        raise _fail("--end must be after --start")
    settings = Settings.from_env(data_dir=data_dir)
    fmt: ExportFormat = format
    what: ExportKind = kind
    try:
        if output is None:
            write_export(sys.stdout.buffer, settings, what, lo, hi, fmt, org)
            sys.stdout.buffer.flush()
            return
        partial = output.with_name(output.name + ".part")
        try:
            with partial.open("wb") as sink:
                size = write_export(sink, settings, what, lo, hi, fmt, org)
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
    except ParquetUnavailable as exc:
        raise _fail(str(exc)) from None
    err.print(f"wrote {size} bytes to {output}", markup=False, highlight=False)
