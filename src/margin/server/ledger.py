"""The ingest service: validates items, resolves parties, prices costs, and stores facts
exactly once, with rollups and attribution, in one transaction per batch.

REST routes, the OTLP receiver and compatibility adapters all ingest through ``Ledger``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Table

from margin._ids import new_id
from margin._money import MoneyError, parse_amount, to_nanos
from margin._time import now_micros, to_micros
from margin.pricing import Pricer
from margin.server._results import (
    BatchResult,
    ItemResult,
    content_hash,
    mark_conflict,
    mark_invalid,
    settle_repeats,
)
from margin.server._rows import existing, insert_rows
from margin.server._tracecosts import TraceCosts
from margin.server.items import CostIn, EventIn, SignalIn
from margin.settings import Settings
from margin.store.attribution import relink_traces, winners
from margin.store.db import Database
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.rollups import CostRollup, SignalRollup, cost_key
from margin.store.schema import costs, events, signals

__all__ = ["BatchResult", "BeforeCommit", "ItemResult", "Ledger", "content_hash"]

#: Extra work run inside an ingest's write transaction, just before it commits.
BeforeCommit = Callable[[Connection], None]


@dataclass
class _Draft:
    result: ItemResult
    item: Any
    key: str
    digest: str
    ts_us: int
    row: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Batch:
    """One kind of items of an ingest request, between validation and their results."""

    table: Table
    store: Any
    results: list[ItemResult]
    drafts: list[_Draft] = field(default_factory=list)
    first_of: dict[str, _Draft] = field(default_factory=dict)
    repeats: list[tuple[ItemResult, str, str]] = field(default_factory=list)
    parties: _Parties | None = None


class _Parties:
    """Customer and agent ids for a batch's references.

    Id references are checked before any party is created, so an item refused for a bad
    reference never creates a customer or agent as a side effect."""

    def __init__(self, conn: Connection, org_id: str, drafts: list[_Draft], create: bool) -> None:
        items = [d.item for d in drafts]
        self.customer_ids = CUSTOMERS.existing_ids(
            conn, org_id, [i.customer_id for i in items if i.customer_id]
        )
        self.agent_ids = AGENTS.existing_ids(
            conn, org_id, [a for i in items if (a := getattr(i, "agent_id", None))]
        )
        self.customers: dict[str, str] = {}
        self.agents: dict[str, str] = {}
        sound = [i for i in items if self._id_problem(i) is None]
        self.customers = CUSTOMERS.resolve(
            conn, org_id, [i.customer for i in sound if i.customer], create=create
        )
        self.agents = AGENTS.resolve(
            conn, org_id, [a for i in sound if (a := getattr(i, "agent", None))], create=True
        )

    def _id_problem(self, item: Any) -> tuple[str, str] | None:
        if item.customer_id and item.customer_id not in self.customer_ids:
            return "customer_id", f"no customer '{item.customer_id}'"
        agent_id = getattr(item, "agent_id", None)
        if agent_id and agent_id not in self.agent_ids:
            return "agent_id", f"no agent '{agent_id}'"
        return None

    def resolve(self, item: Any) -> tuple[str | None, str | None, tuple[str, str] | None]:
        """(customer id, agent id, problem) of an item."""
        problem = self._id_problem(item)
        if problem:
            return None, None, problem
        customer_id = item.customer_id
        if customer_id is None and item.customer:
            customer_id = self.customers.get(item.customer)
            if customer_id is None:
                return None, None, ("customer", f"no customer with external id '{item.customer}'")
        agent_id = getattr(item, "agent_id", None)
        agent = getattr(item, "agent", None)
        if agent_id is None and agent:
            agent_id = self.agents.get(agent)
        return customer_id, agent_id, None

    def remember(self, org_id: str) -> None:
        CUSTOMERS.remember(org_id, self.customers)
        AGENTS.remember(org_id, self.agents)


class Ledger:
    """Stores signals, costs and events, each exactly once per idempotency key."""

    def __init__(self, db: Database, pricer: Pricer, settings: Settings) -> None:
        self.db = db
        self.pricer = pricer
        self.settings = settings

    def ingest_signals(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
    ) -> BatchResult:
        """Store signals (and the costs carried in ``data.costData``). ``before_commit`` runs
        inside the same write transaction, so its writes commit (or fail) with the batch."""
        return self._ingest(
            org_id, items, SignalIn, signals, self._store_signals, source, before_commit
        )

    def ingest_costs(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
    ) -> BatchResult:
        """Store costs, pricing usage that arrives without an amount."""
        return self._ingest(org_id, items, CostIn, costs, self._store_costs, source, before_commit)

    def ingest_events(
        self,
        org_id: str,
        items: Sequence[Any],
        source: str = "api",
        *,
        before_commit: BeforeCommit | None = None,
    ) -> BatchResult:
        """Store generic metering events."""
        return self._ingest(
            org_id, items, EventIn, events, self._store_events, source, before_commit
        )

    def ingest_export(
        self,
        org_id: str,
        signal_items: Sequence[Any],
        cost_items: Sequence[dict[str, Any]],
        source: str,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> tuple[BatchResult, BatchResult]:
        """Signals, and costs the server built itself (the OTLP converter's, see
        ``TraceCosts``), in one transaction: one commit for a whole export. Signals are
        stored first, so that costs are attributed to a signal arriving with them."""
        now = now_micros()
        horizon = now + self.settings.max_future_seconds * 1_000_000
        batch = self._plan(signal_items, SignalIn, signals, self._store_signals, now, horizon)
        built = TraceCosts(cost_items, self.pricer.batch(org_id), now, horizon)
        built.prepare(org_id, source)
        if batch.drafts or built.pending or before_commit is not None:
            with self.db.write() as conn:
                if batch.drafts:
                    self._write(conn, org_id, batch, now, source)
                rollup = built.write(conn, org_id, source, self.settings.auto_create_customers)
                if before_commit is not None:
                    before_commit(conn)
                # Concurrent exports add to the same rollup rows, and on PostgreSQL an upsert
                # keeps its rows locked until the commit: done last, that is all it waits for.
                rollup.flush(conn)
            if batch.parties is not None:
                batch.parties.remember(org_id)
            built.remember(org_id)
        return self._settle(batch), built.settle()

    def _ingest(
        self,
        org_id: str,
        items: Sequence[Any],
        model: type[BaseModel],
        table: Table,
        store: Any,
        source: str,
        before_commit: BeforeCommit | None = None,
    ) -> BatchResult:
        now = now_micros()
        horizon = now + self.settings.max_future_seconds * 1_000_000
        batch = self._plan(items, model, table, store, now, horizon)
        if batch.drafts or before_commit is not None:
            with self.db.write() as conn:
                if batch.drafts:
                    self._write(conn, org_id, batch, now, source)
                if before_commit is not None:
                    before_commit(conn)
            if batch.parties is not None:
                batch.parties.remember(org_id)
        return self._settle(batch)

    def _plan(
        self,
        items: Sequence[Any],
        model: type[BaseModel],
        table: Table,
        store: Any,
        now: int,
        horizon: int,
    ) -> _Batch:
        """Validate and digest a batch's items (no store access): items to write, and items
        repeating an earlier key of the batch, settled once the first one is."""
        batch = _Batch(
            table, store, [ItemResult(index=i, status="failed") for i in range(len(items))]
        )
        first_of = batch.first_of
        for index, raw in enumerate(items):
            result = batch.results[index]
            item = self._validate(raw, model, result)
            if item is None:
                continue
            ts_us = now if item.timestamp is None else to_micros(item.timestamp)
            if ts_us > horizon:
                result.field, result.detail = "timestamp", "timestamp is too far in the future"
                continue
            digest = content_hash(raw)
            key = item.idempotency_key or f"auto:{digest}"
            result.idempotency_key = key
            if key in first_of:
                batch.repeats.append((result, key, digest))
                continue
            draft = _Draft(result, item, key, digest, ts_us)
            first_of[key] = draft
            batch.drafts.append(draft)
        return batch

    def _write(self, conn: Connection, org_id: str, batch: _Batch, now: int, source: str) -> None:
        """Store a planned batch inside the caller's write transaction."""
        stored = existing(conn, batch.table, org_id, batch.first_of)
        fresh = []
        for draft in batch.drafts:
            if draft.key in stored:
                draft.result.id, digest = stored[draft.key]
                if digest == draft.digest:
                    draft.result.status = "duplicate"
                else:
                    mark_conflict(draft.result)
            else:
                fresh.append(draft)
        batch.parties = _Parties(conn, org_id, fresh, self.settings.auto_create_customers)
        batch.store(conn, org_id, fresh, batch.parties, now, source)

    def _settle(self, batch: _Batch) -> BatchResult:
        settle_repeats(batch.repeats, batch.first_of)
        return BatchResult(batch.results)

    def _validate(self, raw: Any, model: type[BaseModel], result: ItemResult) -> Any:
        if not isinstance(raw, dict):
            result.field, result.detail = "body", "each item must be a JSON object"
            return None
        try:
            item = model.model_validate(raw)
        except ValidationError as exc:
            mark_invalid(result, exc)
            return None
        return item

    def _prepare(
        self, drafts: list[_Draft], parties: _Parties, now: int, prefix: str, agents: bool
    ) -> list[_Draft]:
        """Common columns of each fresh draft; drafts with a bad reference are failed."""
        ready = []
        for draft in drafts:
            customer_id, agent_id, problem = parties.resolve(draft.item)
            if problem:
                draft.result.field, draft.result.detail = problem
                continue
            draft.result.id = new_id(prefix)
            draft.row = {
                "id": draft.result.id,
                "customer_id": customer_id,
                "ts": draft.ts_us,
                "idempotency_key": draft.key,
                "content_hash": draft.digest,
                "created_at": now,
            }
            if agents:
                draft.row["agent_id"] = agent_id
            ready.append(draft)
        return ready

    def _commit_rows(
        self, conn: Connection, org_id: str, table: Table, drafts: list[_Draft]
    ) -> list[_Draft]:
        """Insert the drafts' rows; a key taken meanwhile by another writer is a duplicate."""
        for draft in drafts:
            draft.row["org_id"] = org_id
        inserted = insert_rows(conn, table, [d.row for d in drafts])
        done = []
        late = [d for d in drafts if d.key not in inserted]
        stored = existing(conn, table, org_id, [d.key for d in late]) if late else {}
        for draft in drafts:
            if draft.key in inserted:
                draft.result.status = "ingested"
                done.append(draft)
                continue
            draft.result.id, digest = stored[draft.key]
            if digest == draft.digest:
                draft.result.status = "duplicate"
            else:
                mark_conflict(draft.result)
        return done

    # -- per-kind storage ------------------------------------------------------------------

    def _store_events(
        self,
        conn: Connection,
        org_id: str,
        drafts: list[_Draft],
        parties: _Parties,
        now: int,
        source: str,
    ) -> None:
        ready = self._prepare(drafts, parties, now, "evt", agents=False)
        for draft in ready:
            draft.row.update(type=draft.item.type, data=draft.item.data)
        self._commit_rows(conn, org_id, events, ready)

    def _store_signals(
        self,
        conn: Connection,
        org_id: str,
        drafts: list[_Draft],
        parties: _Parties,
        now: int,
        source: str,
    ) -> None:
        ready = self._prepare(drafts, parties, now, "sig", agents=True)
        for draft in ready:
            item: SignalIn = draft.item
            draft.row.update(
                event_name=item.event_name,
                data=item.data,
                trace_id=item.trace_id,
                cost_tracing=item.cost_tracing,
                source=source,
            )
        done = self._commit_rows(conn, org_id, signals, ready)
        rollup = SignalRollup()
        for draft in done:
            row = draft.row
            rollup.add(org_id, row["ts"], row["customer_id"], row["agent_id"], row["event_name"])
        rollup.flush(conn)
        cost_rollup = CostRollup()
        traces = {d.row["trace_id"] for d in done if d.row["cost_tracing"] and d.row["trace_id"]}
        if traces:
            relink_traces(conn, org_id, traces, cost_rollup)
        self._signal_costs(conn, org_id, done, now, cost_rollup)
        cost_rollup.flush(conn)

    def _signal_costs(
        self, conn: Connection, org_id: str, done: list[_Draft], now: int, rollup: CostRollup
    ) -> None:
        """Costs carried in a signal's ``data.costData`` (Paid's manual cost tracking)."""
        rows = []
        for draft in done:
            cost_data = draft.row["data"].get("costData")
            if not isinstance(cost_data, dict):
                continue
            row = self._manual_cost(org_id, draft, cost_data, now)
            if row is not None:
                rows.append(row)
        if not rows:
            return
        names = [row.pop("_event_name") for row in rows]
        inserted = insert_rows(conn, costs, rows)
        for row, name in zip(rows, names, strict=True):
            if row["idempotency_key"] in inserted:
                rollup.add(_rollup_key(org_id, row, name), row["amount_nanos"])

    def _manual_cost(
        self, org_id: str, draft: _Draft, cost_data: dict[str, Any], now: int
    ) -> dict[str, Any] | None:
        signal = draft.row
        attributes = cost_data.get("attributes")
        model = cost_data.get("gen_ai.response.model")
        if isinstance(attributes, dict):
            model = (
                attributes.get("gen_ai.response.model")
                or attributes.get("gen_ai.request.model")
                or model
            )
        provider = cost_data.get("vendor")
        row: dict[str, Any] = {
            "id": new_id("cst"),
            "org_id": org_id,
            "customer_id": signal["customer_id"],
            "agent_id": signal["agent_id"],
            "signal_id": signal["id"],
            "trace_id": signal["trace_id"],
            "provider": str(provider)[:64] if provider else None,
            "model": str(model)[:256] if model else None,
            "operation": None,
            "span_id": None,
            "response_id": None,
            "price_ref": None,
            "unpriced_reason": None,
            "ts": signal["ts"],
            "idempotency_key": f"{draft.key}:cost",
            "content_hash": content_hash(cost_data),
            "source": "signal",
            "created_at": now,
            "price_context": None,
            "_event_name": signal["event_name"],
        }
        cost = cost_data.get("cost")
        if isinstance(cost, dict) and "amount" in cost:
            try:
                amount = parse_amount(cost["amount"])
                row.update(
                    amount_nanos=to_nanos(amount),
                    currency=str(cost.get("currency") or "USD").upper()[:3],
                    priced_by="provided",
                    usage=None,
                )
            except MoneyError as exc:
                row.update(
                    amount_nanos=None,
                    currency="USD",
                    priced_by="unpriced",
                    usage=None,
                    unpriced_reason=f"costData.cost.amount: {exc}",
                )
            return row
        if isinstance(attributes, dict):
            self._price_into(row, org_id, row["provider"], row["model"], attributes, None)
            return row
        return None

    def _price_into(
        self,
        row: dict[str, Any],
        org_id: str,
        provider: str | None,
        model: str | None,
        usage: Mapping[str, Any],
        context: Mapping[str, str] | None,
    ) -> None:
        priced = self.pricer.price(org_id, provider, model, usage, row["ts"], context)
        row.update(
            usage=priced.usage or dict(usage),
            amount_nanos=None,
            currency=priced.currency,
            priced_by=priced.priced_by,
            price_ref=priced.price_ref,
            unpriced_reason=priced.unpriced_reason,
        )
        if priced.amount is not None:
            try:
                row["amount_nanos"] = to_nanos(priced.amount)
            except MoneyError as exc:
                row.update(priced_by="unpriced", price_ref=None, unpriced_reason=f"amount: {exc}")

    def _store_costs(
        self,
        conn: Connection,
        org_id: str,
        drafts: list[_Draft],
        parties: _Parties,
        now: int,
        source: str,
    ) -> None:
        ready = self._prepare(drafts, parties, now, "cst", agents=True)
        for draft in ready:
            item: CostIn = draft.item
            row = draft.row
            row.update(
                trace_id=item.trace_id,
                span_id=item.span_id,
                response_id=item.response_id,
                provider=item.provider,
                model=item.model,
                operation=item.operation,
                source=source,
                price_context=item.price_context if item.amount is None else None,
                signal_id=None,
                price_ref=None,
                unpriced_reason=None,
            )
            if item.amount is not None:
                row.update(
                    amount_nanos=to_nanos(item.amount),
                    currency=item.currency,
                    priced_by="provided",
                    usage=item.usage,
                )
            else:
                assert item.usage is not None
                self._price_into(
                    row, org_id, item.provider, item.model, item.usage, item.price_context
                )
        traced = {d.row["trace_id"] for d in ready if d.row["trace_id"]}
        won = winners(conn, org_id, traced) if traced else {}
        for draft in ready:
            winner = won.get(draft.row["trace_id"] or "")
            draft.row["signal_id"] = winner[0] if winner else None
            draft.extra = {"event_name": winner[1] if winner else ""}
        done = self._commit_rows(conn, org_id, costs, ready)
        rollup = CostRollup()
        for draft in done:
            rollup.add(
                _rollup_key(org_id, draft.row, draft.extra["event_name"]), draft.row["amount_nanos"]
            )
        rollup.flush(conn)


def _rollup_key(org_id: str, row: Mapping[str, Any], event_name: str) -> Any:
    return cost_key(
        org_id,
        row["ts"],
        row["customer_id"],
        row["agent_id"],
        event_name,
        row["provider"],
        row["model"],
        row["currency"],
    )
