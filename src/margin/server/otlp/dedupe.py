"""One cost per AI call, however many spans recorded it.

A call is often instrumented twice: Margin's wrapper span and a native or third-party span
of the same request, nested or not, in one export or in two. Within an export, calls with
the same provider response id are one; so are a span and an enclosing span that record the
same usage and amount (and agree on provider and model). Margin's own span is preferred,
else the first (or outer) one. Across exports the cost key does it: ``otlp:{trace}:resp:{id}``
when the response id is known (see ``convert``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from margin.server.otlp.decode import Span

__all__ = ["Call", "dedupe"]

#: How far up a span's ancestors a second record of its call is looked for.
_MAX_DEPTH = 64


@dataclass(slots=True)
class Call:
    """The AI call a span records."""

    span: Span
    provider: str | None
    model: str | None
    operation: str | None
    response_id: str | None
    usage: dict[str, int]
    #: An amount the span carries itself (as sent), and its currency.
    amount: Any
    currency: Any
    #: Recorded by Margin's own instrumentation.
    ours: bool
    #: The attribute names ``amount`` and ``currency`` were read from.
    sources: dict[str, str] = field(default_factory=dict)


def _same_call(a: Call, b: Call) -> bool:
    def agree(x: str | None, y: str | None) -> bool:
        return x is None or y is None or x == y

    return (
        a.usage == b.usage
        and a.amount == b.amount
        and agree(a.provider, b.provider)
        and agree(a.model, b.model)
    )


def dedupe(calls: list[Call], spans: Mapping[tuple[str, str], Span]) -> list[Call]:
    """One call per (trace, response id), and per nested pair of spans of the same call."""
    best: dict[tuple[str, str], Call] = {}
    for call in calls:
        if call.response_id:
            key = (call.span.trace_id, call.response_id)
            current = best.get(key)
            if current is None or (call.ours and not current.ours):
                best[key] = call
    kept = [c for c in calls if not c.response_id or best[(c.span.trace_id, c.response_id)] is c]
    by_span = {(c.span.trace_id, c.span.span_id): c for c in kept}
    dropped: set[int] = set()
    for call in kept:
        parent, depth = call.span.parent_span_id, 0
        while parent and depth < _MAX_DEPTH and id(call) not in dropped:
            outer = by_span.get((call.span.trace_id, parent))
            if outer is not None and id(outer) not in dropped and _same_call(call, outer):
                loser, winner = (outer, call) if call.ours and not outer.ours else (call, outer)
                dropped.add(id(loser))
                winner.response_id = winner.response_id or loser.response_id
                break
            above = spans.get((call.span.trace_id, parent))
            parent, depth = (above.parent_span_id if above else None), depth + 1
    return [c for c in kept if id(c) not in dropped] if dropped else kept
