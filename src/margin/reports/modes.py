"""Tracking modes in reports: which figures are recorded and which are "not tracked" (null,
never a fake zero, and never a profit or margin computed from one).

A customer or agent is tracked ``full`` (revenue and cost), ``cost_only`` (no revenue),
``revenue_only`` (no cost) or ``auto``: revenue is not tracked until something can produce
revenue for the party (a customer with an order; an agent named by an ordered plan, or any
agent when an ordered plan names none), cost is not tracked until a cost is recorded for it.

A report row is about the parties its key names (``group_by``) or, where the key names none
of a kind, the parties a filter pins. A figure is tracked when any of those parties tracks
it. A row that pins no party (the totals) tracks revenue when any order can produce revenue,
and cost when any cost was recorded. Costs recorded for no customer are tracked; revenue
never reaches them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, exists, select

from margin.store.schema import (
    agents,
    cost_rollups_daily,
    customers,
    events,
    meters,
    orders,
    plans,
)

__all__ = ["Tracking", "pinned_of"]

_KINDS = {"customer": customers, "agent": agents}


class Tracking:
    """Tracking decisions for one organization, read lazily for the parties asked about."""

    def __init__(self, conn: Connection, org_id: str) -> None:
        self.conn, self.org_id = conn, org_id
        self.modes: dict[str, dict[str, str]] = {"customer": {}, "agent": {}}
        self.costed: dict[str, set[str]] = {"customer": set(), "agent": set()}
        self._checked: dict[str, set[str]] = {"customer": set(), "agent": set()}
        self._ordered: tuple[set[str], set[str], bool] | None = None
        self._rows: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], bool] = {}
        self._any_cost: bool | None = None
        self._any_revenue: bool | None = None

    # -- loading -----------------------------------------------------------------------------

    def _orders(self) -> tuple[set[str], set[str], bool]:
        """(customers with an order, agents an ordered plan names, whether an ordered plan
        names no agent), read once."""
        if self._ordered is None:
            rows = self.conn.execute(
                select(orders.c.customer_id, plans.c.agent_id)
                .join(plans, plans.c.id == orders.c.plan_id)
                .where(orders.c.org_id == self.org_id)
                .distinct()
            ).all()
            self._ordered = (
                {r.customer_id for r in rows},
                {r.agent_id for r in rows if r.agent_id is not None},
                any(r.agent_id is None for r in rows),
            )
        return self._ordered

    def remember(self, kind: str, modes: Mapping[str, str]) -> None:
        """Modes already read elsewhere (with the parties' names)."""
        self.modes[kind].update(modes)

    def know(self, kind: str, ids: Iterable[str], costed: Iterable[str] = ()) -> None:
        """Load the modes of ``ids`` (ids of ``kind``); ``costed`` are known to have costs."""
        self.costed[kind].update(costed)
        wanted = sorted({i for i in ids if i and i not in self.modes[kind]})
        table = _KINDS[kind]
        for start in range(0, len(wanted), 500):
            rows = self.conn.execute(
                select(table.c.id, table.c.tracking_mode).where(
                    table.c.org_id == self.org_id, table.c.id.in_(wanted[start : start + 500])
                )
            )
            self.modes[kind].update({r.id: r.tracking_mode for r in rows})

    def _seen(self, kind: str, party: str) -> bool:
        """Whether any cost was ever recorded for an ``auto`` party."""
        if party in self.costed[kind]:
            return True
        if party in self._checked[kind]:
            return False
        pending = [
            p
            for p, mode in self.modes[kind].items()
            if mode == "auto" and p not in self.costed[kind] and p not in self._checked[kind]
        ]
        column = (
            cost_rollups_daily.c.customer_id
            if kind == "customer"
            else cost_rollups_daily.c.agent_id
        )
        for start in range(0, len(pending), 500):
            chunk = pending[start : start + 500]
            found = self.conn.execute(
                select(column)
                .where(cost_rollups_daily.c.org_id == self.org_id, column.in_(chunk))
                .distinct()
            ).scalars()
            self.costed[kind].update(found)
            if kind == "customer":
                metered = self.conn.execute(
                    select(events.c.customer_id)
                    .where(
                        events.c.org_id == self.org_id,
                        events.c.customer_id.in_(chunk),
                        events.c.type.in_(
                            select(meters.c.event_type).where(
                                meters.c.org_id == self.org_id, meters.c.kind == "cost"
                            )
                        ),
                    )
                    .distinct()
                ).scalars()
                self.costed[kind].update(metered)
        self._checked[kind].update(pending)
        self._checked[kind].add(party)
        return party in self.costed[kind]

    def any_revenue(self) -> bool:
        """Whether an order of a customer whose revenue is tracked exists."""
        if self._any_revenue is None:
            ordered = exists().where(
                orders.c.org_id == self.org_id,
                customers.c.id == orders.c.customer_id,
                customers.c.tracking_mode != "cost_only",
            )
            self._any_revenue = bool(self.conn.execute(select(ordered)).scalar())
        return self._any_revenue

    def any_cost(self) -> bool:
        """Whether the organization ever recorded a cost (or measures costs with a meter)."""
        if self._any_cost is None:
            rollup = exists().where(cost_rollups_daily.c.org_id == self.org_id)
            metered = exists().where(meters.c.org_id == self.org_id, meters.c.kind == "cost")
            self._any_cost = bool(self.conn.execute(select(rollup | metered)).scalar())
        return self._any_cost

    # -- decisions -------------------------------------------------------------------------

    def mode(self, kind: str, party: str) -> str:
        """The party's mode; ``""`` (no party) reads ``unassigned``."""
        if not party:
            return "unassigned"
        return self.modes[kind].get(party, "auto")

    def tracks(self, kind: str, party: str, measure: str) -> bool:
        """Whether one party tracks ``measure`` (``revenue`` or ``cost``)."""
        mode = self.mode(kind, party)
        if measure == "revenue":
            if mode not in ("auto", "unassigned"):
                return mode != "cost_only"
            ordered, priced, open_plan = self._orders()
            if mode == "unassigned":
                return kind == "agent" and open_plan
            if kind == "customer":
                return party in ordered
            return open_plan or party in priced
        if mode == "unassigned":
            return True
        if mode != "auto":
            return mode != "revenue_only"
        return self._seen(kind, party)

    def row(self, measure: str, pinned: dict[str, Sequence[str]]) -> bool:
        """Whether a row about the ``pinned`` parties (kind → ids) tracks ``measure``."""
        key = (measure, tuple((k, tuple(ids)) for k, ids in pinned.items()))
        found = self._rows.get(key)
        if found is None:
            found = self._rows[key] = self._row(measure, pinned)
        return found

    def _row(self, measure: str, pinned: dict[str, Sequence[str]]) -> bool:
        kinds = [k for k, ids in pinned.items() if ids]
        if not kinds:
            return self.any_revenue() if measure == "revenue" else self.any_cost()
        return all(any(self.tracks(k, p, measure) for p in pinned[k]) for k in kinds)

    def reason(self, kind: str, party: str, measure: str) -> str:
        """Why a party's ``measure`` is not tracked, for people."""
        mode = self.mode(kind, party)
        if mode == "unassigned":
            return f"recorded for no {kind}"
        if mode == "auto":
            return "no cost recorded yet" if measure == "cost" else "no order prices it yet"
        return mode.replace("_", "-")


def pinned_of(
    key: Mapping[str, Any], filters: Mapping[str, Sequence[str] | None]
) -> dict[str, Sequence[str]]:
    """The parties a row is about: those its key names, else those a filter pins."""
    out: dict[str, Sequence[str]] = {}
    for kind in ("customer", "agent"):
        if kind in key:
            out[kind] = [key[kind] or ""]
        elif filters.get(kind):
            out[kind] = list(filters[kind] or [])
    return out
