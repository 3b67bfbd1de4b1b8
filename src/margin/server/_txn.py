"""What the parts of one ingest write attempt share: the connection, the tenant, the time,
the rollups and totals it adds to, and the parties it resolved."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from margin.server._drafts import Draft
from margin.server._partyrefs import PartyRefs
from margin.store.rollups import CostRollup, CostTotals, SignalRollup

__all__ = ["Txn"]


@dataclass
class Txn:
    """What the parts of one write attempt share."""

    conn: Connection
    org_id: str
    now: int
    source: str
    create_customers: bool
    costs: CostRollup = field(default_factory=CostRollup)
    signals: SignalRollup = field(default_factory=SignalRollup)
    refs: list[PartyRefs] = field(default_factory=list)
    #: The event rows this attempt stored (fresh only), for the credits a meter burns.
    events: list[dict[str, Any]] = field(default_factory=list)
    #: Fresh signals of a unit by (customer, unit, event name): a unit's grants burn first.
    unit_signals: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    totals: CostTotals = field(init=False)

    def __post_init__(self) -> None:
        self.totals = CostTotals(self.conn, self.org_id)

    def parties(self, drafts: Sequence[Draft]) -> PartyRefs:
        refs = PartyRefs(self.conn, self.org_id, [d.item for d in drafts], self.create_customers)
        self.refs.append(refs)
        return refs
