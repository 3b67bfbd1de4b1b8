"""``margin worker`` (a writer of queue mode) and ``margin queue lag|dead-letters``."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console

from margin.cli_store import StoreError, open_store
from margin.settings import Settings, SettingsError

if TYPE_CHECKING:
    from margin.queue.config import QueueConfig
    from margin.store.db import Database

__all__ = ["queue_app", "worker"]

queue_app = typer.Typer(
    help="The ingest queue of queue mode (NATS JetStream).", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

QueueUrl = Annotated[
    str | None,
    typer.Option("--queue", help="NATS servers, nats://host:port,… (MARGIN_QUEUE_URL)."),
]
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the SQLite store lives (MARGIN_DATA_DIR)."),
]


def _config(url: str | None) -> QueueConfig:
    try:
        from margin.queue.config import QueueConfig
    except ModuleNotFoundError:
        err.print("error: queue mode needs nats-py: pip install 'margin[queue]'")
        raise typer.Exit(1) from None
    try:
        config = QueueConfig.from_env(url)
    except SettingsError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    if config is None:
        err.print("error: no queue: pass --queue nats://host:port or set MARGIN_QUEUE_URL")
        raise typer.Exit(2)
    return config


def worker(
    queue: QueueUrl = None,
    data_dir: DataDir = None,
    batch: Annotated[int, typer.Option(help="Messages fetched at a time.", min=1)] = 32,
) -> None:
    """Store what the API put on the ingest queue (run any number of these)."""
    config = _config(queue)
    from margin.queue.writer import Writer

    settings = Settings.from_env(data_dir=data_dir)
    db = _store_when_ready(settings)
    writer = Writer(config, settings, db, batch=batch)

    async def main() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(writer.run(stop, ready))
        await asyncio.wait({task, asyncio.create_task(ready.wait())}, return_when="FIRST_COMPLETED")
        if ready.is_set():
            # The line scripts wait for.
            console.print(f"margin worker: consuming {config.stream} from {config.url}")
        await task

    try:
        asyncio.run(main())
    finally:
        db.dispose()
        console.print(f"margin worker: stopped; {orjson.dumps(dict(writer.stats)).decode()}")


def _store_when_ready(settings: Settings) -> Database:
    """The store, once it can be used. A writer started while the database is down, or
    before ``margin serve`` created the store, waits for it (saying so once per reason), as
    a running writer waits out an outage; SIGINT or SIGTERM meanwhile end it. A store that
    cannot work as configured (the URL, the driver) ends the command at once."""
    from margin.queue.writer import MAX_BACKOFF

    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    quiet = Console(stderr=True, quiet=True)
    said, pause, attempt = "", 0.25, 0
    try:
        while True:
            try:  # the store is named once, by the first attempt
                return open_store(settings, console=quiet if attempt else None)
            except StoreError as exc:
                if not exc.passing:
                    err.print(f"error: {exc}", markup=False, soft_wrap=True)
                    raise typer.Exit(1) from None
                if str(exc) != said:
                    said = str(exc)
                    err.print(
                        f"margin worker: waiting for the store: {exc}",
                        markup=False,
                        soft_wrap=True,
                    )
            attempt += 1
            if stop.wait(pause):
                console.print("margin worker: stopped before the store was ready")
                raise typer.Exit(0)
            pause = min(pause * 2, MAX_BACKOFF)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@queue_app.command("lag")
def lag(queue: QueueUrl = None) -> None:
    """Messages not stored yet, the age of the oldest, and the dead letters (JSON)."""
    config = _config(queue)
    from margin.queue.stream import Stream

    async def main() -> dict[str, object]:
        stream = Stream(config, "margin-cli")
        try:
            return (await stream.lag()).body()
        finally:
            await stream.close()

    console.print_json(orjson.dumps(asyncio.run(main())).decode())


@queue_app.command("dead-letters")
def dead_letters(
    org: Annotated[str, typer.Option(help="Organization id.")],
    queue: QueueUrl = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """An organization's dead letters, oldest first (JSON)."""
    config = _config(queue)
    from margin.queue.stream import Stream

    async def main() -> list[dict[str, object]]:
        stream = Stream(config, "margin-cli")
        try:
            found = await stream.dead_letters(org, limit)
        finally:
            await stream.close()
        return [d.__dict__ for d in found]

    console.print_json(orjson.dumps(asyncio.run(main())).decode())
