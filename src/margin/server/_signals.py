"""Signals stored inside an ingest's write attempt: fresh drafts become rows (tuples in the
table's column order, written by the driver in one statement), then what the stored ones
add: rollup counts, the signals of units, attribution of their traces, their manual costs.
"""

from __future__ import annotations

from typing import Any

from margin._ids import new_ids
from margin._time import HOUR_US
from margin.server._batchjson import json_texts
from margin.server._costs import Link, admit, cost_rows, insert_costs
from margin.server._drafts import Draft
from margin.server._results import mark_conflict
from margin.server._rows import KEY_CONFLICT, existing, insert_tuples
from margin.server._txn import Txn
from margin.store.attribution import relink_traces
from margin.store.schema import signals

__all__ = ["store_signals"]


#: The columns of ``signals``, in the table's order: a row is a plain tuple of them (the
#: driver binds a tuple subclass's values one by one, 0.8 ms slower per 1,000 rows).
COLUMNS = (
    "id",
    "org_id",
    "customer_id",
    "agent_id",
    "event_name",
    "ts",
    "data",
    "idempotency_key",
    "content_hash",
    "trace_id",
    "cost_tracing",
    "source",
    "created_at",
    "unit_id",
)
assert tuple(c.name for c in signals.columns) == COLUMNS
_ID, _CUSTOMER, _AGENT, _EVENT, _TS, _KEY, _TRACE, _TRACING, _UNIT = (
    COLUMNS.index(name)
    for name in (
        "id",
        "customer_id",
        "agent_id",
        "event_name",
        "ts",
        "idempotency_key",
        "trace_id",
        "cost_tracing",
        "unit_id",
    )
)
#: A row of ``signals`` (values in ``COLUMNS`` order, JSON as text).
Row = tuple[Any, ...]


def store_signals(txn: Txn, drafts: list[Draft]) -> None:
    """Store the fresh drafts of signals (a ``SignalIn`` each, with its manual cost, if any,
    planned in ``extra``), each ingested, a duplicate, a conflict or failed."""
    refs = txn.parties(drafts)
    kept: list[Draft] = []
    parties: list[tuple[str | None, str | None, str | None]] = []
    for draft, (customer_id, agent_id, problem) in zip(
        drafts, refs.resolve_all([d.item for d in drafts]), strict=True
    ):
        cost: Draft | None = draft.extra
        if problem is None and cost and not admit(txn.totals, draft.result, cost.extra.body):
            problem = ("data.costData.cost.amount", draft.result.detail or "")
        if problem:
            draft.result.field, draft.result.detail = problem
            continue
        kept.append(draft)
        parties.append((customer_id, agent_id, refs.unit_id(draft.item) if refs.units else None))
    if not kept:
        return
    # Tuples for the driver, data as JSON in one call: bench/ingest_steps.py's rows 3.8 -> 1.9 ms.
    rows = _rows(txn, kept, parties)
    stored: list[Row | None] = list(rows)
    if insert_tuples(txn.conn, signals.name, COLUMNS, rows, KEY_CONFLICT) < len(rows):
        stored = _settle_taken(txn, kept, rows)
    _stored(txn, kept, stored)


def _rows(
    txn: Txn, kept: list[Draft], parties: list[tuple[str | None, str | None, str | None]]
) -> list[Row]:
    """The drafts' rows in key order (concurrent writers take keys in one order), ``kept``
    put in the same order; ids are drawn in the drafts' order, so that they sort as the
    items were sent."""
    ids = new_ids("sig", len(kept))
    data = json_texts([draft.item.data for draft in kept])
    keys = [draft.key for draft in kept]
    order = sorted(range(len(kept)), key=keys.__getitem__)
    org_id, source, now = txn.org_id, txn.source, txn.now
    rows = []
    for i in order:
        draft = kept[i]
        item = draft.item
        customer_id, agent_id, unit_id = parties[i]
        rows.append(
            (
                ids[i],
                org_id,
                customer_id,
                agent_id,
                item.event_name,
                draft.ts,
                data[i],
                draft.key,
                draft.digest,
                item.trace_id,
                item.cost_tracing,
                source,
                now,
                unit_id,
            )
        )
    kept[:] = [kept[i] for i in order]
    return rows


def _settle_taken(txn: Txn, kept: list[Draft], rows: list[Row]) -> list[Row | None]:
    """The rows stored now (None for the others): a key stored before (or meanwhile, by
    another writer) makes its item a duplicate, or a conflict when the content differs."""
    stored = existing(txn.conn, signals, txn.org_id, [row[_KEY] for row in rows])
    out: list[Row | None] = []
    for draft, row in zip(kept, rows, strict=True):
        row_id, digest = stored[row[_KEY]]
        if row_id == row[_ID]:
            out.append(row)
            continue
        out.append(None)
        draft.result.id = row_id
        if digest == draft.digest:
            draft.result.status = "duplicate"
        else:
            mark_conflict(draft.result)
        if draft.extra is not None:  # a duplicate signal stores no cost: give back its amount
            body = draft.extra.extra.body
            txn.totals.release(body.currency, body.amount_nanos)
    return out


def _stored(txn: Txn, kept: list[Draft], rows: list[Row | None]) -> None:
    """Answer the items of the rows stored now (the others are None), and add what those
    rows change."""
    counts, unit_signals = txn.signals.counts, txn.unit_signals
    org_id = txn.org_id
    fresh = []
    for draft, row in zip(kept, rows, strict=True):
        if row is None:
            continue
        fresh.append(row)
        result = draft.result
        result.id, result.status = row[_ID], "ingested"
        customer_id, event_name, ts = row[_CUSTOMER], row[_EVENT], row[_TS]
        counts[(org_id, ts - ts % HOUR_US, customer_id, row[_AGENT] or "", event_name)] += 1
        if row[_UNIT]:
            unit_signals[(customer_id, row[_UNIT], event_name)] += 1
    traces = {row[_TRACE] for row in fresh if row[_TRACING] and row[_TRACE]}
    if traces:
        relink_traces(txn.conn, org_id, traces, txn.costs)
    manual = [
        (draft.extra, Link(row[_CUSTOMER], row[_AGENT], row[_ID], row[_EVENT], row[_UNIT]))
        for draft, row in zip(kept, rows, strict=True)
        if row is not None and draft.extra is not None
    ]
    if manual:
        batch = cost_rows(org_id, manual)
        insert_costs(txn.conn, org_id, batch, "signal", txn.costs, txn.totals, admitted=True)
