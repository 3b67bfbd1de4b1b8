"""Costs the server built itself from GenAI spans (``otlp.convert``'s items): checked,
priced and stored as rows, with the same results and rows as ``Ledger.ingest_costs``.

The converter builds each item, so nearly every one is plainly valid already (ids from bytes,
references stripped, usage counted); those become rows directly, with no pydantic model or
intermediate dicts per item. An item it is not sure of is validated by ``CostIn``, exactly as
a REST caller's, and fails with the same field and message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection

from margin._money import MoneyError, to_nanos
from margin._time import HOUR_US, to_micros
from margin.pricing.pricer import PriceBatch
from margin.server._results import (
    BatchResult,
    ItemResult,
    content_hash,
    mark_conflict,
    mark_invalid,
    settle_repeats,
)
from margin.server._rows import KEY_CONFLICT, existing, insert_tuples
from margin.server.items import CostIn
from margin.store.attribution import otlp_trace_costs, winners
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.rollups import CostRollup, cost_key
from margin.store.schema import OTLP, costs

__all__ = ["TraceCosts"]

_COLUMNS = (
    "id",
    "org_id",
    "customer_id",
    "agent_id",
    "signal_id",
    "trace_id",
    "span_id",
    "response_id",
    "provider",
    "model",
    "operation",
    "usage",
    "amount_nanos",
    "currency",
    "priced_by",
    "price_ref",
    "unpriced_reason",
    "ts",
    "idempotency_key",
    "content_hash",
    "source",
    "created_at",
)

_KEY = attrgetter("key")
#: The unique index of costs received over OTLP (``uq_costs_otlp``).
_OTLP_CONFLICT = ("org_id", "trace_id", "idempotency_key")
_CHUNK = 500


@dataclass(slots=True)
class _Cost:
    """One checked and priced cost, waiting for its parties and its row."""

    result: ItemResult
    raw: dict[str, Any]
    customer: str | None
    agent: str | None
    trace_id: str | None
    span_id: str | None
    response_id: str | None
    provider: str | None
    model: str | None
    operation: str | None
    usage: dict[str, Any] | None
    amount_nanos: int | None
    currency: str
    priced_by: str
    price_ref: str | None
    reason: str | None
    ts: int
    key: str
    digest: str
    signal_id: str | None = None
    event_name: str = ""
    #: The row's columns from ``trace_id`` to ``content_hash`` (made before the write).
    tail: tuple[Any, ...] = ()


#: A cost's rollup dimensions: its hour, customer and agent ids, attributed signal's event
#: name, provider, model and currency.
_Dims = tuple[int, str | None, str | None, str, str | None, str | None, str]


def _new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids as ``margin._ids.new_id`` makes them (the millisecond time in fixed-width
    hex, then 80 random bits), from one read of the random source instead of one each."""
    head = f"{prefix}_{time.time_ns() // 1_000_000:011x}"
    noise = os.urandom(10 * count).hex()
    return [head + noise[i : i + 20] for i in range(0, 20 * count, 20)]


_FIELDS = frozenset(CostIn.model_fields)


def _plain(value: Any, longest: int) -> bool:
    """Whether ``CostIn`` would keep a text field as it is (absent, or a non-empty string
    within bounds with nothing to strip)."""
    return value is None or (
        type(value) is str
        and 0 < len(value) <= longest
        and not (value[0].isspace() or value[-1].isspace())
    )


def _currency(value: Any) -> bool:
    # CostIn's pattern: three ASCII capital letters.
    return (
        type(value) is str
        and len(value) == 3
        and value.isascii()
        and value.isalpha()
        and value.isupper()
    )


class TraceCosts:
    """The cost items of one export: checked and priced on creation (no store access), then
    written by ``write`` inside the caller's transaction, and answered by ``settle``."""

    def __init__(
        self, items: Sequence[dict[str, Any]], prices: PriceBatch, now: int, horizon: int
    ) -> None:
        self.now = now
        self.prices = prices
        self.results = [ItemResult(index=i, status="failed") for i in range(len(items))]
        self.pending: list[_Cost] = []
        self.first_of: dict[str, _Cost] = {}
        self.repeats: list[tuple[ItemResult, str, str]] = []
        self.customers: dict[str, str] = {}
        self.agents: dict[str, str] = {}
        #: What ``prepare`` made: (customers, agents, rows, rollup deltas).
        self._ready: (
            tuple[dict[str, str], dict[str, str], list[tuple[Any, ...]], CostRollup] | None
        ) = None
        for raw, result in zip(items, self.results, strict=True):
            cost = self._plain_cost(raw, result) or self._checked_cost(raw, result)
            if cost is None:
                continue
            if cost.ts > horizon:
                result.field, result.detail = "timestamp", "timestamp is too far in the future"
                continue
            result.idempotency_key = cost.key
            if cost.key in self.first_of:
                self.repeats.append((result, cost.key, cost.digest))
                continue
            self.first_of[cost.key] = cost
            self.pending.append(cost)
        # Rows go in key order: concurrent writers of the same keys take their locks in one
        # order, and neighbouring keys share index pages. Sorted and made ready here, outside
        # the write transaction, so that the store's one writer does not wait on it.
        self.pending.sort(key=_KEY)
        dumps = orjson.dumps
        for cost in self.pending:
            cost.tail = (
                cost.trace_id,
                cost.span_id,
                cost.response_id,
                cost.provider,
                cost.model,
                cost.operation,
                None if cost.usage is None else dumps(cost.usage).decode(),
                cost.amount_nanos,
                cost.currency,
                cost.priced_by,
                cost.price_ref,
                cost.reason,
                cost.ts,
                cost.key,
                cost.digest,
            )

    def _plain_cost(self, raw: dict[str, Any], result: ItemResult) -> _Cost | None:
        """The cost of an item shaped as the converter builds it, when ``CostIn`` would
        accept it unchanged; None to validate it with ``CostIn`` instead. (Trace and span
        ids are not checked again: the converter makes them from the spans' id bytes.)"""
        if not raw.keys() <= _FIELDS:
            return None
        get = raw.get
        trace_id, span_id = get("trace_id"), get("span_id")
        customer, agent, response_id = get("customer"), get("agent"), get("response_id")
        provider, model, operation = get("provider"), get("model"), get("operation")
        key, ts, usage, text = get("idempotency_key"), get("timestamp"), get("usage"), get("amount")
        if not (
            _plain(customer, 256)
            and _plain(agent, 256)
            and _plain(response_id, 256)
            and _plain(provider, 64)
            and _plain(model, 256)
            and _plain(operation, 64)
            and key is not None
            and _plain(key, 256)
            and type(ts) is datetime
            and ts.tzinfo is not None
            and (usage is None or type(usage) is dict)
        ):
            return None
        amount = None
        if text is not None:
            currency = get("currency")
            if type(text) is not str or not _currency(currency):
                return None
            try:
                amount = Decimal(text)
                to_nanos(amount)
            except (InvalidOperation, MoneyError):
                return None
            if amount < 0:
                return None
        elif not usage:
            return None
        fields = (customer, agent, trace_id, span_id, response_id, provider, model)
        return self._cost(result, raw, *fields, operation, usage, amount, get("currency"), ts, key)

    def _checked_cost(self, raw: Any, result: ItemResult) -> _Cost | None:
        """The cost of an item validated as a REST caller's is (``CostIn``)."""
        try:
            item = CostIn.model_validate(raw)
        except ValidationError as exc:
            mark_invalid(result, exc)
            return None
        # The converter names parties by external id and prices without a context.
        assert item.customer_id is None
        assert item.agent_id is None
        assert item.price_context is None
        return self._cost(
            result,
            raw,
            item.customer,
            item.agent,
            item.trace_id,
            item.span_id,
            item.response_id,
            item.provider,
            item.model,
            item.operation,
            item.usage,
            item.amount,
            item.currency,
            item.timestamp,
            item.idempotency_key,
        )

    def _cost(
        self,
        result: ItemResult,
        raw: dict[str, Any],
        customer: str | None,
        agent: str | None,
        trace_id: str | None,
        span_id: str | None,
        response_id: str | None,
        provider: str | None,
        model: str | None,
        operation: str | None,
        usage: dict[str, Any] | None,
        amount: Decimal | None,
        currency: str | None,
        timestamp: datetime | None,
        key: str | None,
    ) -> _Cost:
        """A checked item, priced unless it carries its amount (as ``Ledger.ingest_costs``)."""
        digest = content_hash(raw)
        ts = self.now if timestamp is None else to_micros(timestamp)
        nanos, priced_by, ref, reason = None, "provided", None, None
        if amount is not None:
            nanos = to_nanos(amount)
        else:
            assert usage is not None
            priced = self.prices.nanos(provider, model, usage, ts)
            nanos, currency, priced_by, ref, reason, counts = priced
            usage = counts or dict(usage)
        return _Cost(
            result,
            raw,
            customer,
            agent,
            trace_id,
            span_id,
            response_id,
            provider,
            model,
            operation,
            usage,
            nanos,
            currency or "USD",
            priced_by,
            ref,
            reason,
            ts,
            key or f"auto:{digest}",
            digest,
        )

    def prepare(self, org_id: str, source: str) -> None:
        """Before the write transaction: the rows and rollup deltas as ``write`` makes them
        when every customer and agent is known to this process and no trace has a
        cost-tracing signal stored (the common case). ``write`` checks both and uses them, so
        that the store's one writer does not wait on this work."""
        pending = self.pending
        if not pending:
            return
        customers = CUSTOMERS.known(org_id, {c.customer for c in pending if c.customer})
        agents = AGENTS.known(org_id, {c.agent for c in pending if c.agent})
        if customers is None or agents is None:
            return
        rows = self._rows(org_id, source, customers, agents, {})
        self._ready = (customers, agents, rows, self._rollup(org_id, rows, {}))

    def write(
        self, conn: Connection, org_id: str, source: str, create_customers: bool
    ) -> CostRollup:
        """Resolve parties and attribution, and insert the rows (a key already stored is a
        duplicate, or a conflict if its content differs). Returns their rollup deltas, for
        the caller to flush in the same transaction: last, see ``Ledger.ingest_export``."""
        pending = self.pending
        if not pending:
            return CostRollup()
        won = winners(conn, org_id, {c.trace_id for c in pending if c.trace_id})
        ready, self._ready = self._ready, None
        if ready is not None and not won:
            self.customers, self.agents, rows, rollup = ready
        else:
            self.customers = CUSTOMERS.resolve(
                conn, org_id, {c.customer for c in pending if c.customer}, create=create_customers
            )
            self.agents = AGENTS.resolve(
                conn, org_id, {c.agent for c in pending if c.agent}, create=True
            )
            rows = self._rows(org_id, source, self.customers, self.agents, won)
            rollup = None
        if source == "otlp":
            # Kept unique by the index that also finds them by trace (see ``schema.costs``).
            inserted = insert_tuples(conn, costs.name, _COLUMNS, rows, _OTLP_CONFLICT, OTLP)
        else:
            inserted = insert_tuples(conn, costs.name, _COLUMNS, rows, KEY_CONFLICT)
        if inserted == len(rows) and rollup is not None:
            return rollup
        stored = {} if inserted == len(rows) else self._stored(conn, org_id, source)
        return self._rollup(org_id, rows, stored)

    def _rows(
        self,
        org_id: str,
        source: str,
        customers: dict[str, str],
        agents: dict[str, str],
        won: dict[str, tuple[str, str]],
    ) -> list[tuple[Any, ...]]:
        """The pending costs' rows, in ``_COLUMNS`` order, with new ids."""
        rows = []
        now = self.now
        ids = _new_ids("cst", len(self.pending))
        for cost, cost_id in zip(self.pending, ids, strict=True):
            customer_id = customers.get(cost.customer) if cost.customer else None
            if cost.customer and customer_id is None:
                # An unknown customer (not created automatically) must not lose the cost:
                # it is kept, attributed to no customer, as if sent without one.
                cost.customer = None
                cost.digest = content_hash({**cost.raw, "customer": None})
                cost.tail = (*cost.tail[:-1], cost.digest)
            winner = won.get(cost.trace_id) if cost.trace_id else None
            cost.result.id = cost_id
            if winner is not None:
                cost.signal_id, cost.event_name = winner
            rows.append(
                (
                    cost_id,
                    org_id,
                    customer_id,
                    agents.get(cost.agent) if cost.agent else None,
                    cost.signal_id,
                    *cost.tail,
                    source,
                    now,
                )
            )
        return rows

    def _rollup(
        self, org_id: str, rows: list[tuple[Any, ...]], stored: dict[str, tuple[str, str]]
    ) -> CostRollup:
        """Mark each pending cost ingested, or a duplicate or conflict of one in ``stored``
        (key → id and content hash, stored before or by a concurrent writer), and return
        the rollup deltas of the ingested ones."""
        # Summed per (hour, dimensions) first: far fewer keys than costs.
        totals: dict[_Dims, list[int]] = {}
        for cost, row in zip(self.pending, rows, strict=True):
            result = cost.result
            found = stored.get(cost.key)
            if found is not None and found[0] != result.id:
                result.id = found[0]
                if found[1] == cost.digest:
                    result.status = "duplicate"
                else:
                    mark_conflict(result)
                continue
            result.status = "ingested"
            nanos = cost.amount_nanos
            dims = (
                cost.ts - cost.ts % HOUR_US,
                row[2],
                row[3],
                cost.event_name,
                cost.provider,
                cost.model,
                cost.currency,
            )
            total = totals.get(dims)
            if total is None:
                total = totals[dims] = [0, 0, 0]
            total[1] += 1
            if nanos is None:
                total[2] += 1
            else:
                total[0] += nanos
        rollup = CostRollup()
        for dims, (nanos, records, unpriced) in totals.items():
            rollup.add_totals(cost_key(org_id, *dims), nanos, records, unpriced)
        return rollup

    def _stored(self, conn: Connection, org_id: str, source: str) -> dict[str, tuple[str, str]]:
        """key → (id, content hash) of this batch's keys already stored."""
        if source != "otlp":
            return existing(conn, costs, org_id, self.first_of)
        traces = sorted({c.trace_id for c in self.pending if c.trace_id})
        columns = (costs.c.idempotency_key, costs.c.id, costs.c.content_hash)
        found = {}
        for start in range(0, len(traces), _CHUNK):
            query = otlp_trace_costs(org_id, traces[start : start + _CHUNK], columns)
            for key, cost_id, digest in conn.execute(query):
                if key in self.first_of:
                    found[key] = (cost_id, digest)
        return found

    def remember(self, org_id: str) -> None:
        """Cache the parties resolved by ``write``, once its transaction committed."""
        CUSTOMERS.remember(org_id, self.customers)
        AGENTS.remember(org_id, self.agents)

    def settle(self) -> BatchResult:
        settle_repeats(self.repeats, self.first_of)
        return BatchResult(self.results)
