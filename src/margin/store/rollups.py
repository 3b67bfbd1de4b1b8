"""Hourly rollups kept in step with the facts, in the same transaction.

Every change is an additive delta on a row keyed by (org, hour, dimensions), written as an
upsert, so rollups from concurrent writers never lose an update and can be rebuilt from facts.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from margin.store.schema import cost_rollups, signal_rollups

__all__ = ["HOUR_US", "CostKey", "CostRollup", "SignalRollup", "cost_key", "hour_bucket"]

HOUR_US = 3_600_000_000


def hour_bucket(ts_us: int) -> int:
    """The start of the UTC hour holding ``ts_us``."""
    return ts_us - ts_us % HOUR_US


class CostKey(NamedTuple):
    org_id: str
    bucket: int
    customer_id: str
    agent_id: str
    event_name: str
    provider: str
    model: str
    currency: str


def cost_key(
    org_id: str,
    ts_us: int,
    customer_id: str | None,
    agent_id: str | None,
    event_name: str | None,
    provider: str | None,
    model: str | None,
    currency: str,
) -> CostKey:
    return CostKey(
        org_id,
        hour_bucket(ts_us),
        customer_id or "",
        agent_id or "",
        event_name or "",
        provider or "",
        model or "",
        currency,
    )


def _insert(conn: Connection):  # type: ignore[no-untyped-def]
    return sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert


class CostRollup:
    """Accumulates cost deltas, then writes them in one statement."""

    def __init__(self) -> None:
        self.deltas: dict[CostKey, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(self, key: CostKey, amount_nanos: int | None, sign: int = 1) -> None:
        delta = self.deltas[key]
        delta[0] += sign * (amount_nanos or 0)
        delta[1] += sign
        if amount_nanos is None:
            delta[2] += sign

    def flush(self, conn: Connection) -> None:
        if not self.deltas:
            return
        rows = [
            {**key._asdict(), "amount_nanos": d[0], "records": d[1], "unpriced": d[2]}
            for key, d in sorted(self.deltas.items())
        ]
        stmt = _insert(conn)(cost_rollups)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(CostKey._fields),
            set_={
                "amount_nanos": cost_rollups.c.amount_nanos + stmt.excluded.amount_nanos,
                "records": cost_rollups.c.records + stmt.excluded.records,
                "unpriced": cost_rollups.c.unpriced + stmt.excluded.unpriced,
            },
        )
        conn.execute(stmt, rows)
        self.deltas.clear()


class SignalRollup:
    """Accumulates signal counts per hour and dimensions."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int, str, str, str], int] = defaultdict(int)

    def add(
        self, org_id: str, ts_us: int, customer_id: str, agent_id: str | None, event_name: str
    ) -> None:
        self.counts[(org_id, hour_bucket(ts_us), customer_id, agent_id or "", event_name)] += 1

    def flush(self, conn: Connection) -> None:
        if not self.counts:
            return
        fields = ("org_id", "bucket", "customer_id", "agent_id", "event_name")
        rows = [
            {**dict(zip(fields, key, strict=True)), "signals": n}
            for key, n in sorted(self.counts.items())
        ]
        stmt = _insert(conn)(signal_rollups)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(fields),
            set_={"signals": signal_rollups.c.signals + stmt.excluded.signals},
        )
        conn.execute(stmt, rows)
        self.counts.clear()
