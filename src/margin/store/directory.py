"""Customers and agents: the parties costs and revenue are recorded for.

Both are the same shape (an ``external_id`` unique per organization, a name, a tracking
mode, metadata), so one ``Directory`` serves each table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from margin._ids import new_id
from margin._time import now_micros
from margin.store.schema import agents, customers

__all__ = ["AGENTS", "CUSTOMERS", "DEFAULT_TRACKING_MODE", "TRACKING_MODES", "Directory"]

TRACKING_MODES = ("auto", "full", "cost_only", "revenue_only")
#: The mode of a new customer or agent: revenue is tracked once something can produce it
#: (an order), cost once a cost is recorded (``margin.reports.modes``).
DEFAULT_TRACKING_MODE = "auto"


class Directory:
    """Reads and writes one party table (customers or agents) for one organization."""

    def __init__(self, table: Table, prefix: str, kind: str) -> None:
        self.table = table
        self.prefix = prefix
        self.kind = kind
        self.fields = tuple(
            c.name
            for c in table.columns
            if c.name not in {"id", "org_id", "created_at", "updated_at", "archived_at"}
        )
        # (org_id, external_id) → id. Ids never change for an external id (parties are
        # archived, never deleted), so the map can be shared by every request.
        self._ids: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, org_id: str, party_id: str) -> dict[str, Any] | None:
        if "\x00" in party_id:  # no id holds NUL (and PostgreSQL cannot compare it)
            return None
        row = conn.execute(
            select(self.table).where(self.table.c.org_id == org_id, self.table.c.id == party_id)
        ).first()
        return dict(row._mapping) if row else None

    def get_by_external(
        self, conn: Connection, org_id: str, external_id: str
    ) -> dict[str, Any] | None:
        if "\x00" in external_id:  # refused at creation (and PostgreSQL cannot compare it)
            return None
        row = conn.execute(
            select(self.table).where(
                self.table.c.org_id == org_id, self.table.c.external_id == external_id
            )
        ).first()
        return dict(row._mapping) if row else None

    def upsert(
        self, conn: Connection, org_id: str, values: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Create by ``external_id``, or update the given fields of the existing one.
        Returns the row and whether it was created."""
        existing = self.get_by_external(conn, org_id, values["external_id"])
        if existing is None:
            created = self._insert_missing(conn, org_id, [values["external_id"]], defaults=values)
            row = self.get_by_external(conn, org_id, values["external_id"])
            assert row is not None
            if created:
                return row, True
            existing = row
        changes = {k: v for k, v in values.items() if k != "external_id" and v is not None}
        if changes:
            return self.update(conn, org_id, existing["id"], changes) or existing, False
        return existing, False

    def update(
        self, conn: Connection, org_id: str, party_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        values = {k: v for k, v in changes.items() if k in self.fields and k != "external_id"}
        if values:
            conn.execute(
                update(self.table)
                .where(self.table.c.org_id == org_id, self.table.c.id == party_id)
                .values(**values, updated_at=now_micros())
            )
        return self.get(conn, org_id, party_id)

    def archive(self, conn: Connection, org_id: str, party_id: str) -> dict[str, Any] | None:
        conn.execute(
            update(self.table)
            .where(
                self.table.c.org_id == org_id,
                self.table.c.id == party_id,
                self.table.c.archived_at.is_(None),
            )
            .values(archived_at=now_micros(), updated_at=now_micros())
        )
        return self.get(conn, org_id, party_id)

    def page(
        self,
        conn: Connection,
        org_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        external_id: str | None = None,
        tracking_mode: str | None = None,
        include_archived: bool = False,
    ) -> list[dict[str, Any]]:
        t = self.table
        query = select(t).where(t.c.org_id == org_id).order_by(t.c.id).limit(limit)
        if cursor:
            query = query.where(t.c.id > cursor)
        if external_id is not None:
            query = query.where(t.c.external_id == external_id)
        if tracking_mode is not None:
            query = query.where(t.c.tracking_mode == tracking_mode)
        if not include_archived:
            query = query.where(t.c.archived_at.is_(None))
        return [dict(r._mapping) for r in conn.execute(query)]

    def existing_ids(self, conn: Connection, org_id: str, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are this organization's parties (for id references in ingest)."""
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        t = self.table
        rows = conn.execute(select(t.c.id).where(t.c.org_id == org_id, t.c.id.in_(wanted)))
        return {r.id for r in rows}

    def resolve(
        self, conn: Connection, org_id: str, external_ids: Iterable[str], *, create: bool
    ) -> dict[str, str]:
        """Map external ids to ids, creating missing parties when ``create`` is set.

        Missing parties are created in external id order: concurrent writers creating the
        same new parties then lock their rows in one order, and never deadlock."""
        result: dict[str, str] = {}
        missing: list[str] = []
        for ext in sorted(set(external_ids)):
            cached = self._ids.get((org_id, ext))
            if cached is None:
                missing.append(ext)
            else:
                result[ext] = cached
        if not missing:
            return result
        if create:
            self._insert_missing(conn, org_id, missing)
        t = self.table
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            rows = conn.execute(
                select(t.c.id, t.c.external_id).where(
                    t.c.org_id == org_id, t.c.external_id.in_(chunk)
                )
            )
            for row in rows:
                result[row.external_id] = row.id
        return result

    def known(self, org_id: str, external_ids: Iterable[str]) -> dict[str, str] | None:
        """The ids of parties already resolved in this process, or None if one is not (no
        store access: ``resolve`` answers the same for these, without a query)."""
        result: dict[str, str] = {}
        ids = self._ids
        for ext in external_ids:
            cached = ids.get((org_id, ext))
            if cached is None:
                return None
            result[ext] = cached
        return result

    def remember(self, org_id: str, found: Mapping[str, str]) -> None:
        """Cache resolved ids once the transaction that may have created them committed."""
        with self._lock:
            if len(self._ids) > 200_000:
                self._ids.clear()
            for ext, pid in found.items():
                self._ids[(org_id, ext)] = pid

    def _insert_missing(
        self,
        conn: Connection,
        org_id: str,
        external_ids: list[str],
        defaults: Mapping[str, Any] | None = None,
    ) -> int:
        now = now_micros()
        base: dict[str, Any] = {"tracking_mode": DEFAULT_TRACKING_MODE, "metadata": {}}
        if "currency" in self.fields:
            base["currency"] = "USD"
        base.update({k: v for k, v in (defaults or {}).items() if v is not None})
        rows = [
            {
                **{f: base.get(f) for f in self.fields},
                "id": new_id(self.prefix),
                "org_id": org_id,
                "external_id": ext,
                "created_at": now,
                "updated_at": now,
            }
            for ext in external_ids
        ]
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        stmt = dialect.insert(self.table).on_conflict_do_nothing(
            index_elements=["org_id", "external_id"]
        )
        return conn.execute(stmt, rows).rowcount


CUSTOMERS = Directory(customers, "cus", "customer")
AGENTS = Directory(agents, "agt", "agent")
