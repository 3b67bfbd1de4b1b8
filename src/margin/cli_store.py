"""The store a ``margin`` command works on: which one it is (said on stderr, passwords
masked), opened without creating one by accident, and its failures as one line that says
what to do.

Commands that need an existing store (keys, organizations, reports from the store…) call
``open_store(settings)``; only ``margin serve`` and ``margin db upgrade`` create one
(``create=True``). A command run from the wrong directory thus says where it looked instead
of making an empty ``./.margin``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click
import typer
from rich.console import Console
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from margin.settings import Settings, display_url
from margin.store.db import Database

__all__ = [
    "StoreError",
    "close_stores",
    "describe_store",
    "explain_database_error",
    "open_org",
    "open_store",
]

_BACKENDS = ("sqlite", "postgresql")
_HINT = "pass --data-dir, or set MARGIN_DATA_DIR or MARGIN_DATABASE_URL"


#: The stores opened by the running command, closed when it ends (``close_stores``).
_OPENED: list[Database] = []


def close_stores() -> None:
    """Close the stores the command opened: their pools hold database connections."""
    while _OPENED:
        _OPENED.pop().dispose()


class StoreError(Exception):
    """A store that cannot be used; the message is one line saying what to do. ``passing``
    when it may work later with nothing changed here: the database does not answer (or
    cannot be used now), or holds no store yet (``margin serve`` creates it)."""

    def __init__(self, message: str, *, passing: bool = False) -> None:
        super().__init__(message)
        self.passing = passing


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other stores and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def describe_store(settings: Settings) -> str:
    """The store in words, safe to print: a SQLite file's path, or the masked URL."""
    url = settings.resolved_database_url
    try:
        path = _sqlite_file(url)
    except ArgumentError:
        return display_url(url)
    return f"SQLite file {path}" if path else display_url(url)


def explain_database_error(exc: BaseException, settings: Settings) -> str:
    """One line for a database failure: what failed, where (masked), and what to do."""
    where = describe_store(settings)
    if isinstance(exc, NoSuchModuleError | ArgumentError):
        return (
            f"MARGIN_DATABASE_URL is not a database URL Margin can use ({where}); "
            "use postgresql://user:password@host:5432/dbname or a sqlite:/// path"
        )
    if isinstance(exc, ModuleNotFoundError):
        return f"the PostgreSQL driver is missing ({exc.name}): pip install 'margin[postgres]'"
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    if isinstance(exc, OperationalError) and "does not exist" in first:
        return f"{first} ({where}): create it first, e.g. `createdb NAME`, or fix the URL"
    if isinstance(exc, OperationalError):
        return (
            f"cannot use the database at {where}: {first}. Check that it runs and that "
            f"MARGIN_DATABASE_URL is right"
        )
    return f"database error at {where}: {first}"


def open_store(
    settings: Settings,
    *,
    create: bool = False,
    console: Console | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Database:
    """Open the store (bringing its schema to the newest migration); with ``create``, make it
    when missing. Says which store on ``console`` (stderr by default); ``progress`` is told
    of each migration applied.

    Raises ``StoreError`` with a one-line message when there is no store, when the database
    cannot be reached, or when the URL or its driver is wrong.
    """
    where = describe_store(settings)
    (console or Console(stderr=True)).print(
        f"store: {where}", markup=False, highlight=False, soft_wrap=True
    )
    url = settings.resolved_database_url
    try:
        if make_url(url).get_backend_name() not in _BACKENDS:
            raise StoreError(
                f"Margin keeps its data in SQLite or PostgreSQL; MARGIN_DATABASE_URL is {where}"
            )
        path = _sqlite_file(url)
        if path is not None and not create and not path.exists():
            raise StoreError(
                f"no Margin store at {path}: start one with `margin serve` (or create it with "
                f"`margin db upgrade`), or {_HINT}",
                passing=True,
            )
        db = Database(url)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(explain_database_error(exc, settings)) from None
    try:
        if not create:
            with db.engine.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    raise StoreError(
                        f"the database at {where} holds no Margin store: "
                        f"create it with `margin db upgrade`, or {_HINT}",
                        passing=True,
                    )
        db.upgrade(progress)
    except DBAPIError as exc:
        db.dispose()
        passing = isinstance(exc, OperationalError)
        raise StoreError(explain_database_error(exc, settings), passing=passing) from None
    except StoreError:
        db.dispose()
        raise
    _OPENED.append(db)
    # Closed when the running command ends, however it was mounted (a sub-app run on its own
    # in a test has no root callback): its pool holds database connections.
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().call_on_close(close_stores)
    return db


def open_org(data_dir: Path | None, org: str | None) -> tuple[Database, str]:
    """The store of ``data_dir`` (or the environment's) and the organization a command works
    on: ``org``, or the first one. Without one, the command ends with a line saying why."""
    from margin.store.keys import first_org, get_org

    db = open_store(Settings.from_env(data_dir=data_dir))
    with db.read() as conn:
        org_id = org or first_org(conn)
        known = org_id is not None and get_org(conn, org_id) is not None
    if org_id is None:
        _stop("no organization in this store; run `margin serve` once")
    if not known:
        _stop(f"no organization '{org_id}' in this store")
    assert org_id is not None
    return db, org_id


def _stop(message: str) -> NoReturn:
    Console(stderr=True).print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)
