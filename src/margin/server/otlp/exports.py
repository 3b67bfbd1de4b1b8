"""Storing an OTLP export: its spans (as rows), the costs of its AI calls and its signals,
through the ledger, whole traces at a time.

An export of up to ``CHUNK_SPANS`` spans is one transaction; a larger one is stored a chunk
of whole traces at a time (nothing a trace decides, dedupe, parties, attribution, spans
chunks), so that its spans are never all in memory as Python objects at once. Every chunk
is committed before the export is acknowledged, and a retried export stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import Connection, select

from margin._time import now_micros
from margin.server._rows import insert_tuples
from margin.server.ledger import BatchResult, Ledger
from margin.server.otlp.convert import SPAN_COLUMNS, convert
from margin.server.otlp.decode import Span, span_chunks
from margin.server.otlp.names import party_ref
from margin.server.state import AppState
from margin.store.db import Database
from margin.store.party_mapping import PartyMapping, get_mapping
from margin.store.schema import spans

__all__ = ["CHUNK_SPANS", "EXPORT_HOOKS", "ExportHook", "Received", "receive"]

#: About how many spans of an export are converted and stored at a time.
CHUNK_SPANS = 2_000
_SPAN_KEY = ("org_id", "trace_id", "span_id")
_SPAN_COLUMNS = ("org_id", *SPAN_COLUMNS, "created_at")
_SPAN_ORDER = itemgetter(1, 2)  # trace_id, span_id

#: Work a compatibility layer adds to each chunk's write transaction, after its costs are
#: written: (connection, org id, the chunk's spans, its cost items). See ``margin.compat``.
ExportHook = Callable[[Connection, str, list[Span], list[dict[str, Any]]], None]
EXPORT_HOOKS: list[ExportHook] = []


@dataclass
class Received:
    """The outcome of one export: spans accepted, and the reasons of those rejected."""

    spans: int
    rejected: list[str]


def _stored_parties(
    db: Database, org_id: str, mapping: PartyMapping, trace_ids: set[str]
) -> dict[str, Any]:
    """(customer, agent) of traces from their spans stored by earlier exports."""
    customer_keys, agent_keys = mapping.span_customer_keys, mapping.span_agent_keys
    found: dict[str, tuple[str | None, str | None]] = {}
    with db.read() as conn:
        rows = conn.execute(
            select(spans.c.trace_id, spans.c.attributes).where(
                spans.c.org_id == org_id, spans.c.trace_id.in_(sorted(trace_ids))
            )
        )
        for row in rows:
            attrs = row.attributes or {}
            customer = party_ref(attrs, customer_keys)
            agent = party_ref(attrs, agent_keys)
            old = found.get(row.trace_id, (None, None))
            found[row.trace_id] = (old[0] or customer, old[1] or agent)
    return found


def _span_values(org_id: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Span rows as inserted: the tenant first, in key order (one lock order for concurrent
    writers, shared index pages). Made before the write transaction, so the store's one
    writer does not wait on it."""
    now = now_micros()
    values = [(org_id, *row, now) for row in rows]
    values.sort(key=_SPAN_ORDER)
    return values


def _failures(
    result: BatchResult,
    items: list[dict[str, Any]],
    kind: str,
    sources: list[dict[str, str]] | None = None,
) -> list[str]:
    """The reason of each item refused, naming its span (and the span attribute a field
    was read from, per ``sources``)."""
    reasons = []
    for r in result.items:
        if r.status == "conflict" and ":resp:" in (r.idempotency_key or ""):
            # The same provider response recorded by another span of the call: one cost.
            r.status = "duplicate"
        elif r.status in ("failed", "conflict"):
            item = items[r.index]
            span = item.get("span_id") or str(item.get("idempotency_key", ""))[-16:]
            where = (sources[r.index] if sources else {}).get(r.field or "", r.field)
            reasons.append(f"{kind} of span {span}: {where}: {r.detail}")
    return reasons


def receive(
    state: AppState, org_id: str, request: ExportTraceServiceRequest, chunk_spans: int = CHUNK_SPANS
) -> Received:
    """Store an ``ExportTraceServiceRequest``'s spans, signals and costs; returns after the
    last commit, so an acknowledgement means durable."""
    horizon_ns = (state.clock() + state.settings.max_future_seconds * 1_000_000) * 1000
    ledger = Ledger(state.db, state.pricer, state.settings, clock=state.clock)
    with state.db.read() as conn:
        mapping = get_mapping(conn, org_id)

    def stored(traces: set[str]) -> dict[str, Any]:
        return _stored_parties(state.db, org_id, mapping, traces)

    count, rejected = 0, []
    for found, refused in span_chunks(request, horizon_ns, chunk_spans):
        count += len(found)
        rejected += refused
        converted = convert(found, stored, mapping)
        rejected += converted.rejected
        pending = _span_values(org_id, converted.span_rows)
        hooked = found if EXPORT_HOOKS else []
        del found

        def store_spans(
            conn: Connection,
            pending: list[tuple[Any, ...]] = pending,
            hooked: list[Span] = hooked,
            costs: list[dict[str, Any]] = converted.costs,
        ) -> None:
            # A span stored by an earlier export is kept as it was.
            insert_tuples(conn, spans.name, _SPAN_COLUMNS, pending, _SPAN_KEY)
            for hook in EXPORT_HOOKS:
                hook(conn, org_id, hooked, costs)

        signal_result, cost_result = ledger.ingest_export(
            org_id,
            converted.signals,
            converted.costs,
            source="otlp",
            before_commit=store_spans if pending else None,
        )
        rejected += _failures(signal_result, converted.signals, "signal")
        rejected += _failures(cost_result, converted.costs, "cost", converted.cost_sources)
    return Received(count, rejected)
