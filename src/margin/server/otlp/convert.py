"""Spans → span rows, cost items (one per AI call) and signal items, for the ledger.

Costs are keyed ``otlp:{trace}:{span}``, or ``otlp:{trace}:resp:{response_id}`` when the
provider's response id is known, so a call instrumented twice (a wrapper span and a native or
third-party span) is one cost even when its spans arrive in separate requests. The items are
plain API items: the ledger validates them as any caller's (``CostIn``, ``SignalIn``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from margin import semconv
from margin._payload import PayloadError, parse_json
from margin.server.items import MAX_KEY_LENGTH
from margin.server.otlp.decode import Span
from margin.server.otlp.dedupe import Call, dedupe
from margin.server.otlp.names import (
    AGENT_KEYS,
    AMOUNTS,
    CUSTOMER_KEYS,
    EXTRA_USAGE,
    INSTRUMENTATION,
    PAID_SIGNAL_NAMES,
    Layout,
    count_problem,
    layout,
    party_ref,
    stored_attributes,
)
from margin.store.party_mapping import PartyMapping
from margin.usage import seconds

__all__ = ["SPAN_COLUMNS", "USAGE_HOOKS", "Converted", "StoredParties", "UsageHook", "convert"]

Parties = tuple[str | None, str | None]
_UNIT_KEYS = (semconv.CUSTOMER_UNIT,)
#: (customer, agent) external ids recorded on already stored spans of the given traces.
StoredParties = Callable[[set[str]], Mapping[str, Parties]]
#: A vendor correction of a span's usage, (span name, attributes, usage) → usage, added by a
#: compatibility layer for an instrumentation whose counts follow another rule (see
#: ``margin.compat.paid.spans``).
UsageHook = Callable[[str, Mapping[str, Any], dict[str, int]], dict[str, int]]
USAGE_HOOKS: list[UsageHook] = []
#: The columns of a span row as ``convert`` builds it, in order (attributes as JSON text;
#: the store adds the tenant).
SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_us",
    "end_us",
    "attributes",
    "status",
)


@dataclass
class Converted:
    """What spans become: span rows, ledger items, and refusals."""

    #: One tuple per distinct span, in ``SPAN_COLUMNS`` order.
    span_rows: list[tuple[Any, ...]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)
    #: For each cost item, the span attribute each of its fields was read from, where that
    #: is not the item's own name (a refusal names what the sender wrote).
    cost_sources: list[dict[str, str]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    #: GenAI spans recognised as a second record of a call counted once already.
    merged: int = 0


#: The fields of a call read from the attributes their item names them by (the usual case).
_READ_AS_NAMED: dict[str, str] = {}


def _call(span: Span, names: Layout) -> Call | str | None:
    """The AI call a span records, a reason its cost is refused, or None for other spans."""
    attributes = span.attributes
    problem = count_problem(attributes, names) if names.counts else None
    if problem is not None:
        return f"cost of span {span.span_id}: {problem}"
    usage = names.reader.usage(attributes)
    for hook in USAGE_HOOKS:
        usage = hook(span.name, attributes, usage)
    if names.extras:
        for key, name in EXTRA_USAGE.items():
            value = attributes.get(name)
            # A number here is finite: ``count_problem`` refused the span's cost otherwise.
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                usage[key] = seconds(value)  # half up, as providers bill (2.5 s is 3)
    amount = currency = None
    sources = _READ_AS_NAMED
    if names.amounts:
        for amount_key, currency_key in AMOUNTS:
            if amount_key in attributes:
                amount, currency = attributes[amount_key], attributes.get(currency_key) or "USD"
                sources = {"amount": amount_key, "currency": currency_key}
                break
    if not usage and amount is None:
        return None
    provider, model, operation, response_id = names.reader.model(attributes)
    ours = attributes.get(INSTRUMENTATION) == "margin"
    return Call(
        span, provider, model, operation, response_id, usage, amount, currency, ours, sources
    )


def _json_object(raw: Any) -> dict[str, Any] | None:
    """Signal data: an object, or JSON text of one, parsed exactly (a large integer stays an
    integer, for the ledger to refuse if no store can keep it); None if it is neither."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = parse_json(raw)
        except PayloadError:
            return None
        return value if isinstance(value, dict) else None
    return None


def _signal(span: Span, customer: str | None, agent: str | None) -> dict[str, Any] | str | None:
    """The signal item a signal span records, a reason it cannot be one, or None."""
    a = span.attributes
    if span.name == semconv.SIGNAL_SPAN or semconv.SIGNAL_EVENT_NAME in a:
        event, raw = a.get(semconv.SIGNAL_EVENT_NAME), a.get(semconv.SIGNAL_DATA)
        prefix = semconv.SIGNAL_PREFIX
        tracing = a.get(semconv.SIGNAL_COST_TRACING) in (True, "true")
        key = a.get(semconv.SIGNAL_IDEMPOTENCY_KEY)
    elif span.name in PAID_SIGNAL_NAMES and semconv.PAID_SIGNAL_EVENT_NAME in a:
        event, raw = a.get(semconv.PAID_SIGNAL_EVENT_NAME), a.get(semconv.PAID_SIGNAL_DATA)
        prefix, tracing, key = "", False, None
    else:
        return None
    where = f"span {span.span_id}"
    if not isinstance(event, str) or not event.strip():
        return f"{where}: {prefix}event_name must be a non-empty string"
    data = _json_object(raw)
    if data is None:
        return f"{where}: {prefix}data must be a JSON object"
    if not prefix:  # Paid: data.paid.enable_cost_tracing
        paid = data.get("paid")
        tracing = isinstance(paid, dict) and paid.get("enable_cost_tracing") is True
    if customer is None:
        return f"{where}: signal has no customer ({' / '.join(CUSTOMER_KEYS)})"
    item: dict[str, Any] = {
        "event_name": event.strip(),
        "customer": customer,
        "data": data,
        "trace_id": span.trace_id,
        "cost_tracing": tracing,
        "timestamp": span.end,
        "idempotency_key": str(key) if key else f"otlp:{span.trace_id}:{span.span_id}",
    }
    if agent:
        item["agent"] = agent
    return item


def _cost(call: Call, customer: str | None, agent: str | None) -> dict[str, Any]:
    span = call.span
    key = f"otlp:{span.trace_id}:{span.span_id}"
    if call.response_id:
        key = f"otlp:{span.trace_id}:resp:{call.response_id}"
        if len(key) > MAX_KEY_LENGTH:  # a very long response id: its digest keys the call
            digest = hashlib.sha256(call.response_id.encode()).hexdigest()
            key = f"otlp:{span.trace_id}:resp:sha256:{digest}"
    item: dict[str, Any] = {
        "customer": customer,
        "agent": agent,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "response_id": call.response_id,
        "provider": call.provider,
        "model": call.model,
        "operation": call.operation,
        "usage": call.usage or None,
        "timestamp": span.end,
        "idempotency_key": key,
    }
    if call.amount is not None:
        item["amount"], item["currency"] = call.amount, call.currency
    return item


_DEFAULT_MAPPING = PartyMapping()


def convert(
    spans: list[Span], stored: StoredParties, mapping: PartyMapping = _DEFAULT_MAPPING
) -> Converted:
    """Span rows for every span; cost items for GenAI calls (once per call); signal items.

    A span's customer and agent are read from its own attributes (Margin's and Paid's keys,
    then the organization's ``mapping``), else from its resource's Margin keys, else from
    the other spans of its trace (in this export or stored before), else from its
    resource's mapped keys (``service.name``: a default, so a trace's own naming wins). Its
    customer unit, from its own attributes, else its trace's spans in this export, else its
    resource."""
    out = Converted()
    customer_keys, agent_keys = mapping.span_customer_keys, mapping.span_agent_keys
    by_span: dict[tuple[str, str], Span] = {}
    for span in spans:
        by_span.setdefault((span.trace_id, span.span_id), span)
    # (customer, agent) of each trace: the first of its spans that names one.
    trace_parties: dict[str, list[str | None]] = {}
    # The customer unit each span names, and each trace's first (a span naming none is for
    # the unit its trace names: ``margin.trace(unit=)`` stamps every span inside).
    span_units: dict[int, str] = {}
    trace_units: dict[str, str] = {}
    calls: list[Call] = []
    signal_spans: list[Span] = []
    rows = out.span_rows
    for span in by_span.values():
        a = span.attributes
        customer = span.customer = party_ref(a, customer_keys)
        agent = span.agent = party_ref(a, agent_keys)
        unit = party_ref(a, _UNIT_KEYS)
        if unit:
            span_units[id(span)] = unit
            trace_units.setdefault(span.trace_id, unit)
        if customer or agent:
            known = trace_parties.get(span.trace_id)
            if known is None:
                trace_parties[span.trace_id] = [customer, agent]
            else:
                known[0] = known[0] or customer
                known[1] = known[1] or agent
        names = layout(a)
        rows.append(
            (
                span.trace_id,
                span.span_id,
                span.parent_span_id,
                span.name,
                span.kind,
                span.start_ns // 1000,
                span.end_ns // 1000,
                stored_attributes(a, span.attributes_json, names),
                span.status,
            )
        )
        name = span.name
        if (
            name == semconv.SIGNAL_SPAN
            or names.signal
            or (names.paid_signal and name in PAID_SIGNAL_NAMES)
        ):
            signal_spans.append(span)
            continue
        call = _call(span, names)
        if isinstance(call, str):
            out.rejected.append(call)
        elif call is not None:
            calls.append(call)
    kept = dedupe(calls, by_span)
    out.merged = len(calls) - len(kept)
    resources: dict[int, tuple[str | None, ...]] = {}
    unknown_trace: list[str | None] = [None, None]

    def parties(span: Span) -> Parties:
        customer, agent = span.customer, span.agent
        if customer is None or agent is None:
            res = resources.get(id(span.resource))
            if res is None:
                r = span.resource
                res = resources[id(r)] = (
                    party_ref(r, CUSTOMER_KEYS),
                    party_ref(r, AGENT_KEYS),
                    party_ref(r, mapping.customer_keys),
                    party_ref(r, mapping.agent_keys),
                )
            known = trace_parties.get(span.trace_id, unknown_trace)
            customer = customer or res[0] or known[0] or res[2]
            agent = agent or res[1] or known[1] or res[3]
        return customer, agent

    found = [parties(call.span) for call in kept]
    unknown = {s.trace_id for s in signal_spans if not parties(s)[0]}
    unknown.update(c.span.trace_id for c, (who, _) in zip(kept, found, strict=True) if not who)
    earlier = stored(unknown) if unknown else {}
    if earlier:
        for trace_id, (customer, agent) in earlier.items():
            known = trace_parties.setdefault(trace_id, [None, None])
            known[0], known[1] = known[0] or customer, known[1] or agent
        found = [parties(call.span) for call in kept]

    def unit_of(span: Span, item: dict[str, Any]) -> dict[str, Any]:
        unit = span_units.get(id(span)) or trace_units.get(span.trace_id)
        if unit is None:
            unit = party_ref(span.resource, _UNIT_KEYS)
        if unit and item.get("customer"):
            item["unit"] = unit
        return item

    for span in signal_spans:
        signal = _signal(span, *parties(span))
        if isinstance(signal, str):
            out.rejected.append(signal)
        elif signal is not None:
            out.signals.append(unit_of(span, signal))
    out.costs = [
        unit_of(call.span, _cost(call, *both)) for call, both in zip(kept, found, strict=True)
    ]
    out.cost_sources = [call.sources for call in kept]
    return out
