"""First start of a fresh install: a default organization, an admin key, demo data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from margin.pricing import Pricer
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import authenticate, create_key, create_org, first_org
from margin.store.partitions import PartitionKeeper
from margin.store.schema import signals

__all__ = ["Bootstrap", "bootstrap"]


@dataclass(frozen=True)
class Bootstrap:
    org_id: str
    #: The admin key to print, when there is one to show (first start, or the demo's key).
    secret: str | None
    seeded: dict[str, int] | None


def bootstrap(
    db: Database,
    settings: Settings,
    *,
    demo: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Bootstrap:
    """Create the default organization and its admin key on a fresh store; with ``demo``,
    seed demo data once (telling ``progress``) and keep the demo's admin key in the data
    dir so that every start can print a key that works."""
    key_file = settings.data_dir / "demo-admin-key"
    secret: str | None = None
    with db.write() as conn:
        org_id = first_org(conn)
        if org_id is None:
            org_id = create_org(conn, "default")
            _key, secret = create_key(conn, org_id, "admin", "bootstrap admin key")
        elif demo and key_file.exists():
            kept = key_file.read_text().strip()
            principal = authenticate(conn, kept)
            if principal is not None and principal.org_id == org_id:
                secret = kept
        if demo and secret is None:
            _key, secret = create_key(conn, org_id, "admin", "demo admin key")
    if demo and secret:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secret + "\n")
        key_file.chmod(0o600)
    _keep_partitions(db)
    seeded = None
    if demo:
        with db.read() as conn:
            count = conn.execute(
                select(func.count()).select_from(signals).where(signals.c.org_id == org_id)
            ).scalar_one()
        if count == 0:
            from margin.demo import seed_demo
            from margin.server.ledger import Ledger

            seeded = seed_demo(Ledger(db, Pricer(db), settings), org_id, progress=progress)
    return Bootstrap(org_id=org_id, secret=secret, seeded=seeded)


def _keep_partitions(db: Database) -> None:
    """PostgreSQL: create the months ahead now, then keep doing so for as long as this
    process serves (``margin serve``'s first process lives as long as its workers)."""
    if db.is_sqlite:
        return
    keeper = PartitionKeeper(Database(db.url, pool_size=1))
    keeper.keep()
    keeper.start()
