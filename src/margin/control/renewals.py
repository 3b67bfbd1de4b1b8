"""Grants at the end of their life: expiry, and the renewal of recurring grants.

A grant that reaches ``expires_at`` loses what remains of it (a ledger row ``expiry``, dated
at the expiry). A recurring grant is then renewed for the next period, which starts at the
expiry and ends at the next local period boundary in the grant's time zone (so a month in
Europe/Paris lasts from local midnight to local midnight across a DST change); up to
``rollover_max`` of what remained carries over (a ledger row ``rollover``). A store that was
not swept for a while catches up period by period.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import OperationalError

from margin._calendar import load_zone, window_end
from margin._payload import MAX_INT
from margin.control.credits import insert_grant, lock_account, record
from margin.store.db import Database
from margin.store.schema_control import credit_grants

__all__ = ["due_grants", "expire_due"]

g = credit_grants
log = logging.getLogger("margin.control")
#: At most this many periods are caught up per grant in one sweep.
_MAX_RENEWALS = 400


def due_grants(db: Database, now: int) -> bool:
    """Whether any grant has expired and is still open (a read: no write lock)."""
    with db.read() as conn:
        stmt = select(g.c.id).where(g.c.closed_at.is_(None), g.c.expires_at <= now).limit(1)
        return conn.execute(stmt).first() is not None


def expire_due(conn: Connection, now: int, org_id: str | None = None) -> int:
    """Expire (and renew) every grant whose expiry has passed; how many expired. A grant
    that fails is logged and left open (its own changes undone): every other grant of every
    organization still expires, and a later sweep tries it again."""
    expired = 0
    failed: set[str] = set()
    for _ in range(_MAX_RENEWALS):
        stmt = select(g).where(g.c.closed_at.is_(None), g.c.expires_at <= now)
        if org_id is not None:
            stmt = stmt.where(g.c.org_id == org_id)
        if failed:
            stmt = stmt.where(g.c.id.not_in(failed))
        rows = conn.execute(stmt.order_by(g.c.expires_at, g.c.id).limit(500)).all()
        if not rows:
            break
        for row in rows:
            if _expire_alone(conn, dict(row._mapping), now):
                expired += 1
            else:
                failed.add(row.id)
    return expired


def _expire_alone(conn: Connection, row: dict[str, Any], now: int) -> bool:
    """Expire one grant in a savepoint; False (logged, undone) when it fails. A lost
    connection or a lock conflict is the store's, not the grant's: it ends the sweep."""
    try:
        with conn.begin_nested():
            _expire(conn, row, now)
    except OperationalError:
        raise
    except Exception:
        log.exception("grant %s of %s could not expire", row["id"], row["org_id"])
        return False
    return True


def _expire(conn: Connection, r: dict[str, Any], now: int) -> None:
    lock_account(conn, r["org_id"], r["customer_id"], r["currency"])
    at = r["expires_at"]
    done = conn.execute(
        update(g)
        .where(g.c.id == r["id"], g.c.closed_at.is_(None))
        .values(closed_at=at, remaining_nanos=0)
    )
    if not done.rowcount:  # another sweeper took it
        return
    remaining = int(r["remaining_nanos"])
    record(
        conn,
        r["org_id"],
        r["customer_id"],
        r["currency"],
        -remaining,
        "expiry",
        at,
        grant_id=r["id"],
        unit_id=r["unit_id"],
    )
    if r["recurrence"] is None:
        return
    # The renewal's remaining (amount + carried) must fit a 64-bit row: a grant stored
    # before create_grant bounded the two carries what fits.
    carried = min(remaining, r["rollover_max_nanos"] or 0, MAX_INT - int(r["amount_nanos"]))
    zone = load_zone(r["time_zone"])
    fields = {
        "priority": r["priority"],
        "effective_at": at,
        "expires_at": window_end(at, r["recurrence"], zone),
        "rollover_max_nanos": r["rollover_max_nanos"],
        "recurrence": r["recurrence"],
        "time_zone": r["time_zone"],
        "description": r["description"],
        "parent_id": r["id"],
        "unit_id": r["unit_id"],  # a unit's grant is renewed for the unit
    }
    insert_grant(
        conn,
        r["org_id"],
        r["customer_id"],
        r["currency"],
        int(r["amount_nanos"]),
        at,
        fields,
        carried=carried,
        cause="renewal",
    )
