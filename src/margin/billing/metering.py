"""Meter queries: aggregate the raw events a meter reads, in total, per window and per group.

Meters are evaluated at query time over ``events`` (like OpenMeter), so a meter created
later measures past events too. Values are exact: numbers and decimal strings become
``Decimal``; an event whose value is missing or not a number is skipped (``count`` and
``unique_count`` only need a value to exist).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, select

from margin._calendar import Window, window_end, window_start
from margin._money import format_decimal
from margin.billing.jsonpath import MISSING, compile_path
from margin.billing.meters import event_cost
from margin.store.archived import refuse_archived
from margin.store.schema import events

__all__ = [
    "Aggregate",
    "MeterQuery",
    "MeterResult",
    "fetch_events",
    "measure",
    "numeric",
    "readings",
    "run_query",
]


def numeric(value: Any) -> Decimal | None:
    """The exact number a JSON value holds, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


@dataclass
class Aggregate:
    """A running aggregate of one meter over a set of events."""

    aggregation: str
    events: int = 0
    total: Decimal = Decimal(0)
    low: Decimal | None = None
    high: Decimal | None = None
    latest: tuple[int, str, Decimal] | None = None
    seen: set[bytes] = field(default_factory=set)
    #: A cost meter's cost of these events, in nano-units (each event's cost rounded).
    cost: int = 0

    def add(self, raw: Any, number: Decimal | None, ts: int, event_id: str) -> None:
        self.events += 1
        if self.aggregation == "unique_count":
            self.seen.add(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS))
            return
        if number is None:
            return
        self.total += number
        self.low = number if self.low is None else min(self.low, number)
        self.high = number if self.high is None else max(self.high, number)
        if self.latest is None or (ts, event_id) > self.latest[:2]:
            self.latest = (ts, event_id, number)

    def value(self) -> Decimal | None:
        """The aggregate's value; None where it is undefined (avg/min/max of nothing)."""
        agg = self.aggregation
        if agg == "count":
            return Decimal(self.events)
        if agg == "unique_count":
            return Decimal(len(self.seen))
        if agg == "sum":
            return self.total
        if agg == "avg":
            return self.total / self.events if self.events else None
        if agg == "min":
            return self.low
        if agg == "max":
            return self.high
        return self.latest[2] if self.latest else None


@dataclass
class MeterQuery:
    """What to measure: the period, windows, customers, dimensions and filters."""

    lo: int
    hi: int
    window: Window | None = None
    zone: ZoneInfo | None = None
    customers: list[str] | None = None
    group_by: list[str] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    #: Only the events attributed to this customer unit (``events.unit_id``).
    unit: str | None = None


@dataclass
class MeterResult:
    total: Aggregate
    windows: dict[int, Aggregate]
    groups: dict[tuple[str | None, ...], Aggregate]


def _dimension(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def fetch_events(
    conn: Connection, org_id: str, event_type: str, query: MeterQuery
) -> Iterable[Any]:
    """The raw events a meter query reads, in time order (a range reaching an archived
    month is refused: its events are no longer in the store)."""
    refuse_archived(conn, query.lo, query.hi, "from")
    stmt = select(events.c.id, events.c.customer_id, events.c.ts, events.c.data).where(
        events.c.org_id == org_id,
        events.c.type == event_type,
        events.c.ts >= query.lo,
        events.c.ts < query.hi,
    )
    if query.customers is not None:
        stmt = stmt.where(events.c.customer_id.in_(query.customers))
    if query.unit is not None:
        stmt = stmt.where(events.c.unit_id == query.unit)
    return conn.execute(stmt.order_by(events.c.ts, events.c.id))


def readings(
    meter: Mapping[str, Any], rows: Iterable[Any]
) -> Iterator[tuple[Any, Any, Decimal | None]]:
    """(event row, raw value, number) for each event the meter counts: an event whose value
    is missing is skipped, and so is one whose value is not a number unless the meter counts
    unique values. A ``count`` meter reads no value (raw and number are None)."""
    value_of = compile_path(meter["value_property"]) if meter["value_property"] else None
    unique = meter["aggregation"] == "unique_count"
    for row in rows:
        if value_of is None:
            yield row, None, None
            continue
        raw = value_of(row.data)
        if raw is MISSING:
            continue
        number = numeric(raw)
        if number is None and not unique:
            continue
        yield row, raw, number


def measure(meter: Mapping[str, Any], rows: Iterable[Any], query: MeterQuery) -> MeterResult:
    """Aggregate the meter over event rows (``id``, ``customer_id``, ``ts``, ``data``) in time
    order: in total, per window and per group."""
    aggregation = meter["aggregation"]
    costs = meter.get("kind") == "cost"
    dims = {name: compile_path(path) for name, path in meter["group_by"].items()}
    result = MeterResult(Aggregate(aggregation), {}, {})
    for row, raw, number in readings(meter, rows):
        values = {name: _dimension(get(row.data)) for name, get in dims.items()}
        values["customer"] = row.customer_id
        if any(values.get(dim) not in allowed for dim, allowed in query.filters.items()):
            continue
        cost = event_cost(meter, number) if costs else 0
        touched = [result.total]
        if query.window is not None and query.zone is not None:
            start = window_start(row.ts, query.window, query.zone)
            touched.append(result.windows.setdefault(start, Aggregate(aggregation)))
        if query.group_by:
            key = tuple(values.get(dim) for dim in query.group_by)
            touched.append(result.groups.setdefault(key, Aggregate(aggregation)))
        for aggregate in touched:
            aggregate.add(raw, number, row.ts, row.id)
            aggregate.cost += cost
    return result


def run_query(
    conn: Connection, org_id: str, meter: Mapping[str, Any], query: MeterQuery
) -> MeterResult:
    """Aggregate the meter over the query's events in the store."""
    return measure(meter, fetch_events(conn, org_id, meter["event_type"], query), query)


def render_value(value: Decimal | None) -> str | None:
    """A meter value as a decimal string (None stays None)."""
    return None if value is None else format_decimal(value)


def window_rows(result: MeterResult, query: MeterQuery) -> list[dict[str, Any]]:
    """Windowed values in time order, as (start, end, value, events)."""
    assert query.window is not None
    assert query.zone is not None
    return [
        {
            "window_start": start,
            "window_end": window_end(start, query.window, query.zone),
            "value": agg.value(),
            "events": agg.events,
        }
        for start, agg in sorted(result.windows.items())
    ]
