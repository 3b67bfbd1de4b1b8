"""The ``margin`` command: run the server, manage organizations, keys and the store, read
reports.

Sub-commands that live beside their feature are added in ``_mount_features`` (one place).
Failures a user can fix (no store here, an unreachable database, a malformed setting) end
as one line on stderr that says what to do, never as a traceback.
"""

from __future__ import annotations

import copy
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from margin._version import __version__
from margin.cli_output import AsCsv, AsJson, Column, Yes, confirm, emit, progress
from margin.cli_store import (
    StoreError,
    close_stores,
    describe_store,
    explain_database_error,
    open_store,
)
from margin.settings import Settings, SettingsError

if TYPE_CHECKING:
    from margin.store.db import Database

__all__ = ["app", "main"]

app = typer.Typer(help="Margin: cost, revenue and margin of AI agents.", no_args_is_help=True)
orgs_app = typer.Typer(help="Create and list organizations (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
db_app = typer.Typer(help="The store.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(report_app, name="report")

console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the SQLite store lives (MARGIN_DATA_DIR)."),
]


@app.callback()
def _each_command(ctx: typer.Context) -> None:
    # Whatever a command opened is closed when it ends, in a test's process too.
    ctx.call_on_close(close_stores)


def _settings(data_dir: Path | None) -> Settings:
    return Settings.from_env(data_dir=data_dir)


def _store(data_dir: Path | None) -> Database:
    """The existing store of this command (never created here)."""
    return open_store(_settings(data_dir))


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8400,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    data_dir: DataDir = None,
    demo: Annotated[bool, typer.Option("--demo", help="Seed demo data on first start.")] = False,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue", help="Queue mode: ingest through NATS JetStream (MARGIN_QUEUE_URL)."
        ),
    ] = None,
) -> None:
    """Run the API, the OTLP receiver and the dashboard (creates the store on first start)."""
    if queue:
        os.environ["MARGIN_QUEUE_URL"] = queue
    _check_free(host, port)
    import uvicorn

    from margin.server.bootstrap import bootstrap

    settings = _settings(data_dir)
    with progress("Migrating") as advance:
        db = open_store(settings, create=True, console=console, progress=advance)
    with progress("Seeding the demo") as advance:
        info = bootstrap(db, settings, demo=demo, progress=advance)
    db.dispose()
    url = f"http://{host}:{port}"
    if info.seeded:
        console.print(f"Demo data: {info.seeded}")
    if info.secret:
        console.print(f"API key: {info.secret}", highlight=False, soft_wrap=True)
        console.print(
            f"  try: curl -H 'Authorization: Bearer {info.secret}' {url}/v1/reports/summary",
            highlight=False,
            soft_wrap=True,
        )
    else:
        where = f" --data-dir {settings.data_dir}" if not settings.database_url else ""
        console.print(
            "Admin key: printed only at the first start. Make another with: "
            f"margin keys create --scope admin{where}",
            highlight=False,
            soft_wrap=True,
        )

    def listening() -> None:
        console.print(f"[bold green]Margin {__version__}[/] listening on [link={url}]{url}[/link]")
        # The last line, printed once a request would be answered: scripts may wait for it.
        console.print(f"Dashboard: {url}/   API docs: {url}/docs")

    _when_listening(host, port, listening)
    os.environ["MARGIN_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        os.environ["MARGIN_DATABASE_URL"] = settings.database_url
    uvicorn.run(
        "margin.server.app:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        log_config=_log_config(),
    )


def _reach(host: str, port: int) -> tuple[str, int]:
    """Where a client on this machine reaches a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1", port
    if host == "::":
        return "::1", port
    return host.strip("[]"), port


def _check_free(host: str, port: int) -> None:
    """Refuse to start on an address another server listens on (bound as uvicorn binds)."""
    host = host.strip("[]")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _when_listening(host: str, port: int, announce: Callable[[], None]) -> None:
    """Run ``announce`` on a thread once the server accepts connections. uvicorn binds its
    socket only after loading the app (a second or more); a line printed before that told a
    script to send requests that were refused."""
    address = _reach(host, port)

    def wait() -> None:
        while True:
            try:
                with socket.create_connection(address, timeout=1):
                    break
            except OSError:
                time.sleep(0.02)
        announce()

    threading.Thread(target=wait, name="margin-listening", daemon=True).start()


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with Margin's own loggers (errors and their correlation ids) on
    the same stream."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["margin"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Argument(help="The organization's name.")],
    data_dir: DataDir = None,
) -> None:
    """Create an organization; prints its id (pass it to `margin keys create --org`)."""
    from margin.store.keys import create_org

    if not name.strip() or len(name) > 200 or "\x00" in name:
        raise _fail("the name must be 1 to 200 characters", 2)
    db = _store(data_dir)
    with db.write() as conn:
        org_id = create_org(conn, name.strip())
    console.print(org_id)


@orgs_app.command("list")
def orgs_list(data_dir: DataDir = None, as_json: AsJson = False, as_csv: AsCsv = False) -> None:
    """List organizations, oldest first."""
    from margin._time import isoformat
    from margin.store.keys import list_orgs

    db = _store(data_dir)
    with db.read() as conn:
        orgs = list_orgs(conn)
    rows = [{"id": o.id, "name": o.name, "created_at": isoformat(o.created_at)} for o in orgs]
    columns = (Column("id", kind="id"), Column("name"), Column("created_at", "created", "id"))
    emit(rows, columns, as_json=as_json, as_csv=as_csv, console=console)


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="ingest, read or admin.")] = "ingest",
    org: Annotated[str | None, typer.Option(help="Organization id (default: the first).")] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create an API key. The secret is shown once."""
    from margin.store.keys import SCOPES, create_key, first_org, get_org

    if scope not in SCOPES:
        raise _fail(f"--scope must be one of: {', '.join(SCOPES)}", 2)
    db = _store(data_dir)
    with db.write() as conn:
        org_id = org or first_org(conn)
        if org_id is None:
            raise _fail("this store has no organization yet: create one with `margin orgs create`")
        if get_org(conn, org_id) is None:
            raise _fail(f"no organization {org_id} in this store: see `margin orgs list`")
        key, secret = create_key(conn, org_id, scope, name)
    console.print(f"{key.id} ({key.scope}, org {key.org_id})", highlight=False, soft_wrap=True)
    console.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, as_json: AsJson = False, as_csv: AsCsv = False) -> None:
    """List keys (never their secrets)."""
    from margin._time import isoformat
    from margin.store.keys import list_keys

    db = _store(data_dir)
    with db.read() as conn:
        keys = list_keys(conn)
    rows = [
        {
            "id": k.id,
            "org_id": k.org_id,
            "scope": k.scope,
            "name": k.name,
            "prefix": k.prefix,
            "created_at": isoformat(k.created_at),
            "revoked_at": isoformat(k.revoked_at) if k.revoked_at else None,
        }
        for k in keys
    ]
    columns = (
        Column("id", kind="id"),
        Column("org_id", "org", "id"),
        Column("scope"),
        Column("name"),
        Column("prefix", kind="id"),
        Column("created_at", "created", "id"),
        Column("revoked_at", "revoked", "id"),
    )
    emit(rows, columns, as_json=as_json, as_csv=as_csv, console=console)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None, yes: Yes = False) -> None:
    """Revoke a key by id (its dashboard sessions end with it; asks first unless --yes)."""
    from margin.store.keys import revoke_key

    confirm(f"Revoke {key_id}? Whatever uses it stops working", yes)
    db = _store(data_dir)
    with db.write() as conn:
        if not revoke_key(conn, key_id):
            raise _fail(f"no live key {key_id}: see `margin keys list`")
    console.print(f"revoked {key_id}")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Create the store, or bring it to the newest schema."""
    settings = _settings(data_dir)
    with progress("Migrating") as advance:
        open_store(settings, create=True, progress=advance).dispose()
    console.print(
        f"store at head: {describe_store(settings)}", markup=False, highlight=False, soft_wrap=True
    )


def _mount_features() -> None:
    """Sub-commands that live beside their feature: one line each here (once per process,
    so that tests can mount them too)."""
    from margin import (
        cli_archive,
        cli_attribution,
        cli_billing,
        cli_control,
        cli_costs,
        cli_export,
        cli_fx,
        cli_pricing,
        cli_queue,
    )

    if any(group.name == "invoices" for group in app.registered_groups):
        return
    app.add_typer(cli_billing.invoices_app, name="invoices")
    app.add_typer(cli_billing.plans_app, name="plans")
    report_app.registered_commands.extend(cli_billing.report_app.registered_commands)
    app.add_typer(cli_pricing.app, name="prices")
    app.add_typer(cli_costs.app, name="costs")
    app.add_typer(cli_fx.org_app, name="org")
    app.add_typer(cli_fx.fx_app, name="fx")
    app.command("worker")(cli_queue.worker)
    app.add_typer(cli_queue.queue_app, name="queue")
    for name, sub in cli_control.APPS:
        app.add_typer(sub, name=name)
    app.command(name="export")(cli_export.export)
    app.add_typer(cli_attribution.attribution_app, name="attribution")
    app.command(name="archive")(cli_archive.archive_months)


def main() -> None:
    """Entry point of the ``margin`` command (through ``margin.__main__``)."""
    from sqlalchemy.exc import DBAPIError

    _mount_features()
    for arg in sys.argv[1:]:
        # Bytes that are not UTF-8 arrive as lone surrogates, which no store holds.
        if not arg.isascii():
            try:
                arg.encode()
            except UnicodeEncodeError:
                _fail(f"an argument is not valid UTF-8: {arg!r}")
                sys.exit(2)
    try:
        app(prog_name="margin")
    except (StoreError, SettingsError) as exc:
        _fail(str(exc))
        sys.exit(1)
    except DBAPIError as exc:
        # A database failure past opening the store (it went away mid-command).
        _fail(explain_database_error(exc, Settings.from_env()))
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
