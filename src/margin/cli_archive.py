"""``margin archive --before YYYY-MM``: whole months of raw facts out of PostgreSQL into
Parquet files, rollups kept (``margin.store.archive``)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from margin._time import now_micros
from margin.cli_output import AsJson, DryRun, show
from margin.cli_store import StoreError, open_store
from margin.settings import Settings, SettingsError
from margin.store.archive import ArchiveRefused, archivable, archive

__all__ = ["archive_months"]

err = Console(stderr=True)


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def archive_months(
    before: Annotated[
        str, typer.Option("--before", help="Archive every month before this one (YYYY-MM).")
    ],
    directory: Annotated[
        Path,
        typer.Option(
            "--dir", help="Where the Parquet files go: DIR/TABLE/YYYY-MM.parquet (created)."
        ),
    ] = Path("archive"),
    dry_run: DryRun = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where the SQLite store lives (MARGIN_DATA_DIR)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Write the raw facts (signals, costs, events) of every month before --before to one
    Parquet file per table and month, check each file's row count, then drop those months
    from the store (PostgreSQL only). Reports of cost and signal counts still answer for
    them from the rollups; an archived fact's idempotency key stays taken."""
    try:
        db = open_store(Settings.from_env(data_dir=data_dir))
    except (StoreError, SettingsError) as exc:
        raise _fail(str(exc), 1) from None
    try:
        now = now_micros()
        parts = archivable(db, before, now) if dry_run else archive(db, before, directory, now)
    except ArchiveRefused as exc:
        raise _fail(str(exc), 2) from None
    finally:
        db.dispose()
    rows = [asdict(part) for part in parts]
    for row in rows:
        if dry_run:
            del row["file"]
        else:
            row["file"] = str(directory / row["file"])
    show(rows, as_json=as_json)
