"""Costs: one row type and one path from a checked ``CostIn`` to a stored row, whichever way
the cost arrived (``POST /v1/costs``, a signal's ``data.costData``, an OTLP span, an
adapter). Each is validated by ``CostIn`` (see ``items``), priced here before the write
transaction, and inserted by ``insert_costs`` inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection

from margin._ids import new_id
from margin._money import MoneyError, format_decimal, from_nanos, to_nanos
from margin._payload import stored_json
from margin._time import HOUR_US
from margin.pricing import Pricer
from margin.pricing.pricer import Priced
from margin.server._drafts import Draft
from margin.server._results import ItemResult, content_hash, mark_conflict
from margin.server._rows import KEY_CONFLICT, OTLP_CONFLICT, existing, existing_otlp, insert_tuples
from margin.server.items import MAX_AMOUNT, CostIn
from margin.store.attribution import otlp_trace_costs
from margin.store.rollups import MAX_TOTAL_NANOS, CostRollup, CostTotals, cost_key
from margin.store.schema import OTLP, costs

__all__ = [
    "COST_COLUMNS",
    "CostBody",
    "CostRow",
    "CostRows",
    "Link",
    "PlannedCost",
    "Prices",
    "admit",
    "cost_rows",
    "digest_without_customer",
    "insert_costs",
    "plan_cost",
]

_MAX_NANOS = to_nanos(MAX_AMOUNT)
_CHUNK = 500


class CostRow(NamedTuple):
    """One row of ``costs``, JSON columns as text, in the table's column order."""

    id: str
    org_id: str
    customer_id: str | None
    agent_id: str | None
    signal_id: str | None
    trace_id: str | None
    span_id: str | None
    response_id: str | None
    provider: str | None
    model: str | None
    operation: str | None
    usage: str | None
    amount_nanos: int | None
    currency: str
    priced_by: str
    price_ref: str | None
    unpriced_reason: str | None
    ts: int
    idempotency_key: str
    content_hash: str
    source: str
    created_at: int
    price_context: str | None
    unit_id: str | None


COST_COLUMNS = CostRow._fields
assert tuple(c.name for c in costs.columns) == COST_COLUMNS


class Prices:
    """Prices one request's costs: the caller's amount, else the usage's price at the cost's
    time (``catalog``, ``override``, or ``unpriced`` with the reason: never a silent zero)."""

    def __init__(self, pricer: Pricer, org_id: str) -> None:
        self._pricer = pricer
        self._org_id = org_id
        self._batch = pricer.batch(org_id)

    def of(self, item: CostIn, ts: int) -> Priced:
        if item.amount is not None:
            assert item.currency is not None
            nanos = to_nanos(item.amount)
            return Priced(nanos, item.currency, "provided", None, None, item.usage or {})
        usage = item.usage
        assert usage is not None
        if item.price_context:
            priced = self._in_context(item, usage, ts)
        else:
            priced = self._batch.nanos(item.provider, item.model, usage, ts)
        if priced.nanos is not None and priced.nanos > _MAX_NANOS:
            amount = format_decimal(from_nanos(priced.nanos))
            reason = f"amount: {amount} is more than the maximum {format_decimal(MAX_AMOUNT)}"
            return Priced(None, priced.currency, "unpriced", None, reason, priced.usage or usage)
        return priced if priced.usage else priced._replace(usage=dict(usage))

    def _in_context(self, item: CostIn, usage: dict[str, Any], ts: int) -> Priced:
        context = item.price_context
        found = self._pricer.price(self._org_id, item.provider, item.model, usage, ts, context)
        counts = found.usage
        if found.amount is None:
            return Priced(
                None, found.currency, found.priced_by, None, found.unpriced_reason, counts
            )
        try:
            nanos = to_nanos(found.amount)
        except MoneyError as exc:
            return Priced(None, found.currency, "unpriced", None, f"amount: {exc}", counts)
        return Priced(nanos, found.currency, found.priced_by, found.price_ref, None, counts)


# -- rows ------------------------------------------------------------------------------------


class Link(NamedTuple):
    """Who a cost belongs to: its customer and agent ids, the signal it is attributed to
    (with that signal's event name, a rollup dimension), and the customer's unit it names."""

    customer_id: str | None
    agent_id: str | None
    signal_id: str | None
    event_name: str
    unit_id: str | None = None


class CostBody(NamedTuple):
    """A cost row's columns from ``trace_id`` on: all that is known before the write
    transaction (the parties and the attributed signal are resolved inside it)."""

    trace_id: str | None
    span_id: str | None
    response_id: str | None
    provider: str | None
    model: str | None
    operation: str | None
    usage: str | None
    amount_nanos: int | None
    currency: str
    priced_by: str
    price_ref: str | None
    unpriced_reason: str | None
    ts: int
    idempotency_key: str
    content_hash: str
    source: str
    created_at: int
    price_context: str | None


assert COST_COLUMNS[5:-1] == CostBody._fields


class PlannedCost(NamedTuple):
    """A checked and priced cost, ready to become a row once its links are known: made
    before the write transaction, so that the store's one writer (SQLite) waits on less."""

    id: str
    body: CostBody

    def with_digest(self, digest: str) -> PlannedCost:
        return self._replace(body=self.body._replace(content_hash=digest))


def plan_cost(
    draft: Draft, priced: Priced, source: str, now: int, cost_id: str | None = None
) -> PlannedCost:
    """The row-to-be of a checked cost (``draft.item``, a ``CostIn``) priced as ``priced``
    (with ``cost_id``, else a new id)."""
    item: CostIn = draft.item
    context = item.price_context if item.amount is None else None
    body = CostBody(
        item.trace_id,
        item.span_id,
        item.response_id,
        item.provider,
        item.model,
        item.operation,
        stored_json(priced.usage).decode() if priced.usage else None,
        priced.nanos,
        priced.currency,
        priced.priced_by,
        priced.price_ref,
        priced.unpriced_reason,
        draft.ts,
        draft.key,
        draft.digest,
        source,
        now,
        None if context is None else stored_json(context).decode(),
    )
    return PlannedCost(cost_id or new_id("cst"), body)


@dataclass
class CostRows:
    """The rows of a batch of costs with their links, in key order (concurrent writers lock
    keys in one order), and what they add to the rollups and to each currency's total if
    all of them are stored (the usual case)."""

    entries: list[tuple[Draft, Link]]
    rows: list[CostRow]
    sums: dict[tuple[Any, ...], list[int]]
    by_currency: dict[str, int]


def cost_rows(org_id: str, entries: Sequence[tuple[Draft, Link]]) -> CostRows:
    """The rows of planned costs (``draft.extra``: ``PlannedCost``) with their links."""
    ordered = sorted(entries, key=lambda entry: entry[0].key)
    rows = [
        CostRow._make((draft.extra.id, org_id, *link[:3], *draft.extra.body, link.unit_id))
        for draft, link in ordered
    ]
    sums, by_currency = _sums(rows, [link for _draft, link in ordered])
    return CostRows(ordered, rows, sums, by_currency)


def _sums(
    rows: Sequence[CostRow], links: Sequence[Link]
) -> tuple[dict[tuple[Any, ...], list[int]], dict[str, int]]:
    """Per rollup row (hour and dimensions): amount, records and unpriced records; and the
    amount per currency."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    by_currency: dict[str, int] = {}
    for row, link in zip(rows, links, strict=True):
        bucket = row.ts - row.ts % HOUR_US
        dims = (bucket, *link[:2], link.event_name, row.provider, row.model, row.currency)
        total = sums.get(dims)
        if total is None:
            total = sums[dims] = [0, 0, 0]
        total[1] += 1
        if row.amount_nanos is None:
            total[2] += 1
        else:
            total[0] += row.amount_nanos
            by_currency[row.currency] = by_currency.get(row.currency, 0) + row.amount_nanos
    return sums, by_currency


def insert_costs(
    conn: Connection,
    org_id: str,
    batch: CostRows,
    source: str,
    rollup: CostRollup,
    totals: CostTotals,
    *,
    admitted: bool = False,
) -> None:
    """Insert a batch of cost rows; mark each ingested, duplicate or conflict (its key stored
    before, with other content), or failed when it would take the organization's total past
    the maximum (unless ``admitted`` to ``totals`` already). The rollup deltas of the
    ingested ones go to ``rollup``."""
    admitted = admitted or _admit_all(totals, batch.by_currency)
    rows, refused = batch.rows, []  # refused: past the total, unless stored already
    if not admitted:
        fits = [admit(totals, draft.result, draft.extra.body) for draft, _ in batch.entries]
        rows = [row for row, fit in zip(batch.rows, fits, strict=True) if fit]
        refused = [row for row, fit in zip(batch.rows, fits, strict=True) if not fit]
    if source == "otlp":
        # Kept unique by the index that also finds them by trace (see ``schema.costs``).
        inserted = insert_tuples(conn, costs.name, COST_COLUMNS, rows, OTLP_CONFLICT, OTLP)
    else:
        inserted = insert_tuples(conn, costs.name, COST_COLUMNS, rows, KEY_CONFLICT)
    if inserted == len(batch.rows):  # every row stored: the usual case
        for (draft, _link), row in zip(batch.entries, rows, strict=True):
            draft.result.id, draft.result.status = row.id, "ingested"
        _add(rollup, org_id, batch.sums, rows)
        return
    late = refused if inserted == len(rows) else rows + refused
    stored = _stored(conn, org_id, source, late) if late else {}
    failed = {row.idempotency_key for row in refused}
    done: list[tuple[CostRow, Link]] = []
    for (draft, link), row in zip(batch.entries, batch.rows, strict=True):
        result = draft.result
        found = stored.get(row.idempotency_key)
        if found is not None and found[0] != row.id:
            if row.idempotency_key not in failed:
                totals.release(row.currency, row.amount_nanos)
            result.id, result.field, result.detail = found[0], None, None
            if found[1] == row.content_hash:
                result.status = "duplicate"
            else:
                mark_conflict(result)
        elif row.idempotency_key not in failed:
            result.id, result.status = row.id, "ingested"
            done.append((row, link))
    stored_rows = [row for row, _ in done]
    _add(rollup, org_id, _sums(stored_rows, [link for _, link in done])[0], stored_rows)


def _add(
    rollup: CostRollup,
    org_id: str,
    sums: dict[tuple[Any, ...], list[int]],
    rows: Sequence[CostRow],
) -> None:
    """Add what the stored ``rows`` (summed as ``sums``) change: rollups, units' spend."""
    for dims, (nanos, records, unpriced) in sums.items():
        rollup.add_totals(cost_key(org_id, *dims), nanos, records, unpriced)
    for row in rows:
        if row.unit_id and row.customer_id and row.amount_nanos:
            rollup.units[(row.customer_id, row.unit_id, row.currency)] += row.amount_nanos


def _admit_all(totals: CostTotals, by_currency: dict[str, int]) -> bool:
    """Admit every cost at once when each currency's total can take all of them (nearly
    always; else nothing is admitted, and each cost is, or is not, on its own)."""
    taken: list[tuple[str, int]] = []
    for currency, nanos in by_currency.items():
        if not totals.admit(currency, nanos):
            for done, amount in taken:
                totals.release(done, amount)
            return False
        taken.append((currency, nanos))
    return True


def admit(totals: CostTotals, result: ItemResult, cost: CostBody) -> bool:
    """Whether the organization's total in the cost's currency can take it; if not, the
    item fails naming its amount."""
    if totals.admit(cost.currency, cost.amount_nanos):
        return True
    result.field = "amount"
    result.detail = (
        f"the organization's {cost.currency} costs would total more than "
        f"{format_decimal(from_nanos(MAX_TOTAL_NANOS))}, the most Margin sums exactly"
    )
    return False


def _stored(
    conn: Connection, org_id: str, source: str, rows: list[CostRow]
) -> dict[str, tuple[str, str]]:
    """key → (id, content hash) of these rows' keys as stored (by them or before them)."""
    keys = {row.idempotency_key for row in rows}
    if source != "otlp":
        return existing(conn, costs, org_id, keys)
    if conn.dialect.name == "postgresql":  # their keys, kept for ever (``fact_keys``)
        return existing_otlp(conn, org_id, [(row.trace_id, row.idempotency_key) for row in rows])
    traces = sorted({row.trace_id for row in rows if row.trace_id})
    columns = (costs.c.idempotency_key, costs.c.id, costs.c.content_hash)
    found = {}
    for start in range(0, len(traces), _CHUNK):
        query = otlp_trace_costs(org_id, traces[start : start + _CHUNK], columns)
        for key, cost_id, digest in conn.execute(query):
            if key in keys:
                found[key] = (cost_id, digest)
    return found


def digest_without_customer(draft: Draft) -> str:
    """The digest of an OTLP cost kept without its customer (one that could not be made):
    what its row records, so that a retry is a duplicate of it."""
    return content_hash({**draft.raw, "customer": None})
