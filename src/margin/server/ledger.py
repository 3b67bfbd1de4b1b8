"""The ingest service: validates items, resolves parties, prices costs, and stores facts
exactly once, with rollups and attribution, in one transaction per batch.

REST routes, the OTLP receiver, compatibility adapters and the control plane all ingest
through ``Ledger``. A batch is planned first, without the store (``_drafts.plan``: checks,
digests, keys; costs priced), then written in one transaction that PostgreSQL may end as
the loser of a deadlock: it is then run again from the plan (``Database.transact``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table

from margin._ids import new_ids
from margin._time import now_micros
from margin.control.consumption import consume
from margin.pricing import Pricer
from margin.server._costdata import signal_cost
from margin.server._costs import (
    Link,
    Prices,
    cost_rows,
    digest_without_customer,
    insert_costs,
    plan_cost,
)
from margin.server._drafts import Dedupe, Draft, Drafts, derived_key, plan
from margin.server._results import (
    BatchResult,
    ItemResult,
    content_hash,
    mark_conflict,
)
from margin.server._rows import existing, insert_rows
from margin.server._signals import store_signals
from margin.server._txn import Txn
from margin.server.items import CostIn, EventIn, SignalIn
from margin.settings import Settings
from margin.store.attribution import winners
from margin.store.db import Database
from margin.store.rollups import TotalExceeded
from margin.store.schema import events

__all__ = ["BatchResult", "BeforeCommit", "Dedupe", "ItemResult", "Ledger", "content_hash"]

#: Extra work run inside an ingest's write transaction, just before it commits (run again
#: if the transaction is: it must write through the connection it is given, and only that).
BeforeCommit = Callable[[Connection], None]
#: How many times a batch is written when a concurrent writer took the cost total it
#: counted on (each attempt re-reads the totals, so the next one refuses the items).
_TOTAL_ATTEMPTS = 3


#: Stores a kind's fresh drafts inside a write attempt.
_Store = Callable[[Txn, list[Draft]], None]


@dataclass
class _Batch:
    drafts: Drafts
    store: _Store


class Ledger:
    """Stores signals, costs and events, each exactly once per idempotency key."""

    def __init__(
        self,
        db: Database,
        pricer: Pricer,
        settings: Settings,
        *,
        clock: Callable[[], int] = now_micros,
    ) -> None:
        self.db = db
        self.pricer = pricer
        self.settings = settings
        #: "Now" in µs: the time of a fact sent without one. A queue writer passes the time
        #: the edge received the item, so that every delivery of it dates it the same.
        self.clock = clock

    def ingest_signals(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
        dedupe: Dedupe = "content",
    ) -> BatchResult:
        """Store signals (and the costs carried in ``data.costData``). ``before_commit`` runs
        inside the same write transaction, so its writes commit (or fail) with the batch."""
        now, horizon = self._clock()
        batch = self._signals(org_id, items, now, horizon, dedupe)
        self._write(org_id, now, source, [batch], before_commit)
        return batch.drafts.settle()

    def ingest_costs(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
        dedupe: Dedupe = "content",
    ) -> BatchResult:
        """Store costs, pricing usage that arrives without an amount."""
        now, horizon = self._clock()
        batch = self._costs(org_id, items, (now, horizon), source, dedupe)
        self._write(org_id, now, source, [batch], before_commit)
        return batch.drafts.settle()

    def ingest_events(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
        dedupe: Dedupe = "content",
    ) -> BatchResult:
        """Store generic metering events."""
        now, horizon = self._clock()
        batch = _Batch(plan(items, EventIn, now, horizon, dedupe), _store_events)
        self._write(org_id, now, source, [batch], before_commit)
        return batch.drafts.settle()

    def ingest_export(
        self,
        org_id: str,
        signal_items: Sequence[Any],
        cost_items: Sequence[dict[str, Any]],
        source: str,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> tuple[BatchResult, BatchResult]:
        """Signals, and costs the server built itself (the OTLP converter's), in one
        transaction: one commit for a whole export. Signals are stored first, so that costs
        are attributed to a signal arriving with them. A cost whose customer is unknown (and
        not created) is kept, attributed to no customer."""
        now, horizon = self._clock()
        signal_batch = self._signals(org_id, signal_items, now, horizon, "content")
        at = (now, horizon)
        cost_batch = self._costs(org_id, cost_items, at, source, "content", keep_unknown=True)
        self._write(org_id, now, source, [signal_batch, cost_batch], before_commit)
        return signal_batch.drafts.settle(), cost_batch.drafts.settle()

    # -- planning (no store access) ------------------------------------------------------

    def _clock(self) -> tuple[int, int]:
        now = self.clock()
        return now, now + self.settings.max_future_seconds * 1_000_000

    def _signals(
        self, org_id: str, items: Sequence[Any], now: int, horizon: int, dedupe: Dedupe
    ) -> _Batch:
        prices = Prices(self.pricer, org_id)

        def prepare(draft: Draft) -> tuple[str, str] | None:
            cost_data = draft.item.data.get("costData")
            if not isinstance(cost_data, dict):
                return None
            cost, problem = signal_cost(cost_data)
            if cost is not None:
                key = derived_key(draft.key, "cost")
                result = ItemResult(index=draft.result.index, status="failed")
                manual = Draft(result, cost_data, cost, key, content_hash(cost_data), draft.ts)
                manual.extra = plan_cost(manual, prices.of(cost, draft.ts), "signal", now)
                draft.extra = manual
            return problem

        return _Batch(plan(items, SignalIn, now, horizon, dedupe, prepare), store_signals)

    def _costs(
        self,
        org_id: str,
        items: Sequence[Any],
        at: tuple[int, int],
        source: str,
        dedupe: Dedupe,
        keep_unknown: bool = False,
    ) -> _Batch:
        prices = Prices(self.pricer, org_id)
        now, horizon = at

        def prepare(draft: Draft) -> None:
            draft.extra = prices.of(draft.item, draft.ts)

        drafts = plan(items, CostIn, now, horizon, dedupe, prepare)
        ids = new_ids("cst", len(drafts.fresh))
        for draft, cost_id in zip(drafts.fresh, ids, strict=True):
            draft.extra = plan_cost(draft, draft.extra, source, now, cost_id)

        def store(txn: Txn, drafts: list[Draft]) -> None:
            _store_costs(txn, drafts, keep_unknown)

        return _Batch(drafts, store)

    # -- writing -----------------------------------------------------------------------------

    def _write(
        self,
        org_id: str,
        now: int,
        source: str,
        batches: list[_Batch],
        before_commit: BeforeCommit | None,
    ) -> None:
        if not any(b.drafts.fresh for b in batches) and before_commit is None:
            return

        def work(conn: Connection) -> Txn:
            txn = Txn(conn, org_id, now, source, self.settings.auto_create_customers)
            for batch in batches:
                batch.drafts.restart()
                if batch.drafts.fresh:
                    batch.store(txn, batch.drafts.fresh)
            if before_commit is not None:
                before_commit(conn)
            # Usage burns credits in the same transaction (fresh facts only: retries once).
            units = (txn.unit_signals, txn.costs.units)
            consume(conn, org_id, txn.signals.counts, txn.costs.deltas, now, txn.events, *units)
            # Concurrent writers add to the same rollup rows, and on PostgreSQL an upsert
            # keeps its rows locked until the commit: done last, that is all they wait for.
            txn.signals.flush(conn)
            txn.costs.flush(conn)
            return txn

        for refs in self._transact(work).refs:
            refs.remember(org_id)

    def _transact(self, work: Callable[[Connection], Txn]) -> Txn:
        for _attempt in range(_TOTAL_ATTEMPTS - 1):
            try:
                return self.db.transact(work)
            except TotalExceeded:
                continue  # another writer took the room this one counted on: count again
        return self.db.transact(work)


def _insert_facts(
    txn: Txn, table: Table, pairs: list[tuple[Draft, dict[str, Any]]]
) -> list[tuple[Draft, dict[str, Any]]]:
    """Insert rows in key order; a key stored before (or meanwhile, by another writer) makes
    its item a duplicate, or a conflict when the content differs. Returns the inserted."""
    pairs.sort(key=lambda pair: pair[0].key)
    for _draft, row in pairs:
        row["org_id"] = txn.org_id
    inserted = insert_rows(txn.conn, table, [row for _draft, row in pairs])
    late = [draft.key for draft, _row in pairs if draft.key not in inserted]
    stored = existing(txn.conn, table, txn.org_id, late) if late else {}
    done = []
    for draft, row in pairs:
        if draft.key in inserted:
            draft.result.id, draft.result.status = row["id"], "ingested"
            done.append((draft, row))
            continue
        draft.result.id, digest = stored[draft.key]
        if digest == draft.digest:
            draft.result.status = "duplicate"
        else:
            mark_conflict(draft.result)
    return done


def _common(draft: Draft, row_id: str, customer_id: str | None, txn: Txn) -> dict[str, Any]:
    return {
        "id": row_id,
        "customer_id": customer_id,
        "ts": draft.ts,
        "idempotency_key": draft.key,
        "content_hash": draft.digest,
        "created_at": txn.now,
    }


def _store_events(txn: Txn, drafts: list[Draft]) -> None:
    refs = txn.parties(drafts)
    pairs = []
    for draft, row_id in zip(drafts, new_ids("evt", len(drafts)), strict=True):
        customer_id, _agent_id, problem = refs.resolve(draft.item)
        if problem:
            draft.result.field, draft.result.detail = problem
            continue
        row = _common(draft, row_id, customer_id, txn)
        row.update(type=draft.item.type, data=draft.item.data, unit_id=refs.unit_id(draft.item))
        pairs.append((draft, row))
    txn.events.extend(row for _draft, row in _insert_facts(txn, events, pairs))


def _store_costs(txn: Txn, drafts: list[Draft], keep_unknown: bool) -> None:
    refs = txn.parties(drafts)
    won = winners(txn.conn, txn.org_id, {d.item.trace_id for d in drafts if d.item.trace_id})
    entries = []
    for draft in drafts:
        item: CostIn = draft.item
        customer_id, agent_id, problem = refs.resolve(item)
        unit_id = refs.unit_id(item)
        if problem is not None and keep_unknown and problem[0] in ("customer", "unit"):
            # An unknown customer (not created automatically) or unit must not lose the
            # cost: it is kept, attributed to no customer, as if sent without one.
            customer_id, agent_id, problem = None, refs.agents.get(item.agent or ""), None
            draft.digest = digest_without_customer(draft)
            draft.extra = draft.extra.with_digest(draft.digest)
        if problem:
            draft.result.field, draft.result.detail = problem
            continue
        signal_id, event_name = won.get(item.trace_id or "", (None, ""))
        unit = unit_id if customer_id else None
        link = Link(customer_id, agent_id, signal_id, event_name, unit)
        entries.append((draft, link))
    batch = cost_rows(txn.org_id, entries)
    insert_costs(txn.conn, txn.org_id, batch, txn.source, txn.costs, txn.totals)
