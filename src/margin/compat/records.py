"""Vendor objects Margin has no table for (Paid's contacts), kept as JSON documents of one
kind per organization, optionally under a parent (the customer they belong to)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from margin._ids import new_id
from margin._time import now_micros
from margin.server.problems import Problem
from margin.store.schema import compat_records

__all__ = ["Records"]


class Records:
    """The records of one ``kind`` of one organization."""

    def __init__(self, conn: Connection, org_id: str, kind: str) -> None:
        self.conn = conn
        self.org_id = org_id
        self.kind = kind
        t = compat_records.c
        self._mine = (t.org_id == org_id, t.kind == kind)

    def check_new(self, external_id: str | None) -> None:
        """Refuse (409, naming ``externalId``) an external id another record of this kind
        already has, before the store's unique index would."""
        if external_id is not None and self.get(external_id, external=True) is not None:
            raise Problem(409, f"externalId: '{external_id}' is already taken", field="externalId")

    def create(
        self, doc: dict[str, Any], *, parent_id: str | None = None, external_id: str | None = None
    ) -> dict[str, Any]:
        self.check_new(external_id)
        now = now_micros()
        row = {
            "id": new_id("rec"),
            "org_id": self.org_id,
            "kind": self.kind,
            "external_id": external_id,
            "parent_id": parent_id,
            "doc": doc,
            "created_at": now,
            "updated_at": now,
        }
        self.conn.execute(insert(compat_records).values(**row))
        return row

    def get(self, ref: str, *, external: bool = False) -> dict[str, Any] | None:
        t = compat_records.c
        column = t.external_id if external else t.id
        row = self.conn.execute(select(compat_records).where(*self._mine, column == ref)).first()
        return dict(row._mapping) if row else None

    def page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        t = compat_records.c
        total = self.conn.execute(
            select(func.count()).select_from(compat_records).where(*self._mine)
        ).scalar_one()
        rows = self.conn.execute(
            select(compat_records).where(*self._mine).order_by(t.id).limit(limit).offset(offset)
        )
        return [dict(r._mapping) for r in rows], int(total)

    def update(self, record_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        t = compat_records.c
        self.conn.execute(
            update(compat_records)
            .where(*self._mine, t.id == record_id)
            .values(doc=doc, updated_at=now_micros())
        )
        found = self.get(record_id)
        assert found is not None
        return found

    def delete(self, record_id: str) -> None:
        self.conn.execute(
            delete(compat_records).where(*self._mine, compat_records.c.id == record_id)
        )
