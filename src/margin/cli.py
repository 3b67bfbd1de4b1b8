"""The ``margin`` command: run the server, manage keys and the store, read reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from margin._version import __version__
from margin.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(help="Margin: cost, revenue and margin of AI agents.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
db_app = typer.Typer(help="The store.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(report_app, name="report")

console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the SQLite store lives (MARGIN_DATA_DIR)."),
]


def _settings(data_dir: Path | None) -> Settings:
    return Settings.from_env(data_dir=data_dir)


def _database(settings: Settings):  # type: ignore[no-untyped-def]
    from margin.store.db import Database

    db = Database(settings.resolved_database_url)
    db.upgrade()
    return db


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
) -> None:
    """Run the API, the OTLP receiver and the dashboard."""
    import uvicorn

    from margin.server.bootstrap import bootstrap

    settings = _settings(data_dir)
    db = _database(settings)
    info = bootstrap(db, settings, demo=demo)
    db.dispose()
    url = f"http://{host}:{port}"
    console.print(f"Store: {settings.resolved_database_url}")
    if info.seeded:
        console.print(f"Demo data: {info.seeded}")
    if info.secret:
        console.print(f"API key: {info.secret}", highlight=False, soft_wrap=True)
        console.print(
            f"  try: curl -H 'Authorization: Bearer {info.secret}' {url}/v1/reports/summary",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"[bold green]Margin {__version__}[/] listening on [link={url}]{url}[/link]")
    # The last line printed before serving: scripts may wait for it.
    console.print(f"Dashboard: {url}/   API docs: {url}/docs")
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
    )


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="ingest, read or admin.")] = "ingest",
    org: Annotated[str | None, typer.Option(help="Organization id (default: the first).")] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create an API key. The secret is shown once."""
    from margin.store.keys import SCOPES, create_key, first_org

    if scope not in SCOPES:
        err.print(f"--scope must be one of: {', '.join(SCOPES)}")
        raise typer.Exit(2)
    db = _database(_settings(data_dir))
    with db.write() as conn:
        org_id = org or first_org(conn)
        if org_id is None:
            err.print("no organization yet: run `margin serve` once, or pass --org")
            raise typer.Exit(1)
        key, secret = create_key(conn, org_id, scope, name)
    console.print(f"{key.id} ({key.scope}, org {key.org_id})")
    console.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List keys (never their secrets)."""
    from margin._time import isoformat
    from margin.store.keys import list_keys

    db = _database(_settings(data_dir))
    with db.read() as conn:
        keys = list_keys(conn)
    table = Table("id", "org", "scope", "name", "prefix", "created", "revoked")
    for k in keys:
        table.add_row(
            k.id,
            k.org_id,
            k.scope,
            k.name,
            k.prefix + "…",
            isoformat(k.created_at),
            isoformat(k.revoked_at) if k.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke a key by id."""
    from margin.store.keys import revoke_key

    db = _database(_settings(data_dir))
    with db.write() as conn:
        if not revoke_key(conn, key_id):
            err.print(f"no live key {key_id}")
            raise typer.Exit(1)
    console.print(f"revoked {key_id}")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply migrations."""
    settings = _settings(data_dir)
    _database(settings)
    console.print(f"store at head: {settings.resolved_database_url}")


@report_app.command("summary")
def report_summary(
    group_by: Annotated[
        str, typer.Option(help="customer, agent, event_name, model or provider.")
    ] = "customer",
    from_: Annotated[str | None, typer.Option("--from", help="Start (date or RFC 3339).")] = None,
    to: Annotated[str | None, typer.Option(help="End (date or RFC 3339).")] = None,
    base_url: Annotated[str, typer.Option(envvar="MARGIN_BASE_URL")] = "http://127.0.0.1:8400",
    api_key: Annotated[str | None, typer.Option(envvar="MARGIN_API_KEY")] = None,
) -> None:
    """Cost and revenue per group, from a running server."""
    import httpx

    if not api_key:
        err.print("set MARGIN_API_KEY or pass --api-key (a read or admin key)")
        raise typer.Exit(2)
    params = {
        "group_by": group_by,
        **({"from": from_} if from_ else {}),
        **({"to": to} if to else {}),
    }
    response = httpx.get(
        f"{base_url.rstrip('/')}/v1/reports/summary",
        params=params,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    if response.status_code != 200:
        err.print(f"{response.status_code}: {response.text}")
        raise typer.Exit(1)
    body = response.json()
    table = Table(title=f"{body['from']} → {body['to']} by {group_by}")
    for column in ("group", "currency", "cost", "revenue", "records", "unpriced", "signals"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for g in body["rows"]:
        table.add_row(
            str(g["label"]),
            g["currency"] or "",
            g["cost"] or "—",
            g["revenue"] or "—",
            str(g["records"]),
            str(g["unpriced"]),
            str(g["signals"] or ""),
        )
    console.print(table)


def _mount_features() -> None:
    """Sub-commands that live beside their feature (billing, pricing)."""
    from margin import cli_billing, cli_pricing

    app.add_typer(cli_billing.invoices_app, name="invoices")
    report_app.registered_commands.extend(cli_billing.report_app.registered_commands)
    app.add_typer(cli_pricing.app, name="prices")
    for name, sub in cli_pricing.EXTRA_APPS:
        app.add_typer(sub, name=name)


def main() -> None:
    """Entry point of the ``margin`` script."""
    _mount_features()
    app(prog_name="margin")


if __name__ == "__main__":  # pragma: no cover
    main()
