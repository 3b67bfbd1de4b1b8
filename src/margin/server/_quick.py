"""A signal checked without building its model: the common case of ``SignalIn``, taken
only where the model would accept it and produce exactly the same values.

Only items whose every field is already in its final form are taken here: text with no
whitespace to strip, within its length; ``data`` an object whose keys need no stripping;
``cost_tracing`` a boolean; the time read by the model's own function. Anything else (a
field the model would convert, or refuse) is left to ``SignalIn``, which decides and names
the error. ``tests/server/test_plan_exact.py`` holds the two to the same answers.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from margin.server.items import MAX_KEY_LENGTH, SignalIn, _fact_time

__all__ = ["QuickSignal", "quick_signal"]


class QuickSignal(NamedTuple):
    """A checked signal, read as a ``SignalIn`` is (by attribute)."""

    customer: str | None
    customer_id: str | None
    timestamp: Any
    idempotency_key: str | None
    event_name: str
    unit: str | None
    agent: str | None
    agent_id: str | None
    data: dict[str, Any]
    trace_id: str | None
    cost_tracing: bool


_FIELDS = frozenset(SignalIn.model_fields)
assert frozenset(QuickSignal._fields) == _FIELDS
_TRACE = re.compile(r"[0-9a-f]{32}").fullmatch
_new = tuple.__new__
_strip = str.strip


def quick_signal(raw: dict[str, Any]) -> QuickSignal | None:
    """``raw`` as ``SignalIn`` would read it, or None: ask the model."""
    if not raw.keys() <= _FIELDS:
        return None
    get = raw.get
    customer, customer_id = get("customer"), get("customer_id")
    event_name, key = get("event_name"), get("idempotency_key")
    unit, agent, agent_id = get("unit"), get("agent"), get("agent_id")
    if (customer is None and customer_id is None) or event_name is None:
        return None
    # Text the model keeps as it is: 1 … MAX_KEY_LENGTH characters, nothing to strip (what
    # Python's strip removes includes all that pydantic's does).
    for value in (customer, customer_id, event_name, key, unit, agent, agent_id):
        if value is not None and (
            value.__class__ is not str
            or not 0 < len(value) <= MAX_KEY_LENGTH
            or _strip(value) != value
        ):
            return None
    data = get("data")
    if data is None:
        if "data" in raw:
            return None
        data = {}
    elif data.__class__ is not dict:
        return None
    else:
        for name in data:  # the model strips the keys of data
            if name.__class__ is not str or _strip(name) != name:
                return None
        data = dict(data)
    trace_id = get("trace_id")
    if trace_id is not None and (trace_id.__class__ is not str or not _TRACE(trace_id)):
        return None
    tracing = get("cost_tracing", False)
    if tracing.__class__ is not bool:
        return None
    timestamp = get("timestamp")
    if timestamp is not None:
        try:
            timestamp = _fact_time(timestamp)
        except ValueError:
            return None
    values = (customer, customer_id, timestamp, key, event_name, unit, agent, agent_id, data)
    return _new(QuickSignal, (*values, trace_id, tracing))
