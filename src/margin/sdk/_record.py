"""A finished ``LightSpan`` as a tuple of plain values: what is queued for delivery in its
place.

A queued span waits for the delivery thread, long enough to outlive the garbage collector's
young collections: a span object and its ``SpanContext`` are tracked by the collector, get
promoted to the oldest generation and, call after call, start full collections over the
whole heap of the process. A tuple of ints and strings (and of tuples of them) is untracked
by a collection that finds nothing tracked in it, and the span and its context die as soon
as the caller drops them. A collection examines the tuples a record holds after the record
itself (it reorders the young objects it keeps), so a record is untracked by the second
collection it meets, and one holding an array value made at run time (finish reasons) by the
first full one, in the oldest generation. So the record holds the span's attributes as a
tuple of keys and one of values (a dict would keep it tracked), its status only when one was
set, and its resource and instrumentation scope as an index in ``ORIGINS``. No field is None
(an unset status is 0, no trace state ""), so that None written by a JSON encoder can only
be a value no span may send as it is (``span_batch``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from margin import semconv

__all__ = ["ORIGINS", "keeps_prompt", "origin"]

# The fields of a record, in order.
ORIGIN = 0  # index in ORIGINS
NAME = 1
TRACE_HI = 2  # the trace id's high 64 bits
TRACE_LO = 3  # and its low 64 bits (ints a JSON encoder takes, see ``span_batch``)
SPAN_ID = 4
PARENT_ID = 5  # the parent's span id, 0 for a root span
PARENT_REMOTE = 6
TRACE_STATE = 7  # a non-empty TraceState, or ""
KIND = 8  # SpanKind's value
START = 9
END = 10
KEYS = 11  # the attributes' keys
VALUES = 12  # and their values
STATUS = 13  # the Status set on the span, 0 while it is unset
KEEPS_PROMPT = 14  # whether the span's trace scope kept prompts (``keeps_prompt``)
STARTED = 15  # how many of the first attributes the span started with
#: How many fields a record has.
FIELDS = 16
#: The low 64 bits of an int.
LOW64 = (1 << 64) - 1

#: Whether spans are queued as records: only while ``_wire`` encodes them (``payloads``
#: turns this off when it falls back to OpenTelemetry's encoder, which reads span objects).
enabled = True
#: (resource, instrumentation scope) pairs of recorded spans; one per configured runtime.
ORIGINS: list[tuple[Resource, InstrumentationScope]] = []
#: Indexes in ORIGINS by the ids of the resource and the scope.
ORIGIN_IDS: dict[tuple[int, int], int] = {}
_lock = threading.Lock()


def origin(resource: Resource, scope: InstrumentationScope) -> int:
    """The index of (``resource``, ``scope``) in ``ORIGINS``, added when new (held there, so
    the ids that key it stay theirs)."""
    key = (id(resource), id(scope))
    found = ORIGIN_IDS.get(key)
    if found is None:
        with _lock:
            found = ORIGIN_IDS.get(key)
            if found is None:
                found = len(ORIGINS)
                ORIGINS.append((resource, scope))
                ORIGIN_IDS[key] = found
    return found


def keeps_prompt(attributes: Mapping[str, Any] | None) -> bool:
    """Whether a span's attributes say its trace scope kept prompts and completions."""
    return attributes is not None and attributes.get(semconv.STORE_PROMPT) is True
