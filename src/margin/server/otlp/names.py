"""The attribute names the OTLP receiver reads, vendor by vendor (OTel GenAI conventions,
OpenInference, Paid's wrappers, Margin's own), and what a span's names alone decide (its
``Layout``): where its usage and model are, which keys hold prompts, whether it is a signal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from margin import semconv
from margin._fields import to_int
from margin._payload import stored_json
from margin.usage import SpanReader

__all__ = [
    "AGENT_KEYS",
    "AMOUNTS",
    "CUSTOMER_KEYS",
    "EXTRA_USAGE",
    "INSTRUMENTATION",
    "PAID_SIGNAL_NAMES",
    "Layout",
    "count_problem",
    "layout",
    "party_ref",
    "stored_attributes",
]

CUSTOMER_KEYS = semconv.CUSTOMER_KEYS
AGENT_KEYS = semconv.AGENT_KEYS
INSTRUMENTATION = semconv.INSTRUMENTATION
_STORE_PROMPT = semconv.STORE_PROMPT
# Keys holding prompts or completions: dropped before storage unless the span's trace asked
# for them (``margin.store_prompt``).
_PROMPT = re.compile("|".join(re.escape(key) for key in semconv.PROMPT_KEYS))
# Names that hold a usage count (of any vendor): a negative one refuses the span's cost.
_COUNT = re.compile(r"(^|\.)(usage|token_count)\.|_tokens$|\.count$|_seconds$|_processed$")
# Non-token usage of Paid's wrappers, which margin.usage's token aliases do not cover.
EXTRA_USAGE = semconv.PAID_USAGE
#: (amount, currency) attribute names of a cost the span carries itself.
AMOUNTS = semconv.COST_AMOUNTS
PAID_SIGNAL_NAMES = semconv.PAID_SIGNAL_SPANS
_PLACEHOLDER = "unknown_service"
_EXTRA_NAMES = frozenset(EXTRA_USAGE.values())
_AMOUNT_NAMES = frozenset(name for name, _ in AMOUNTS)
# What a usage attribute must hold to be counted as sent: any finite number that is not
# negative (a name that only looks like a count), a number (Paid's non-token usage, rounded
# when read), or a whole number (the token and unit counts ``margin.usage`` reads).
_ANY, _NUMBER, _WHOLE = 0, 1, 2
_WHOLE_NAMES = frozenset(name for names in semconv.USAGE_ALIASES.values() for name in names)


def _rule(name: str) -> int:
    return _WHOLE if name in _WHOLE_NAMES else _NUMBER if name in _EXTRA_NAMES else _ANY


def party_ref(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` that holds a customer or agent external id (text or integer),
    stripped; the item's model checks its length like any other reference. OpenTelemetry's
    placeholder service name (``unknown_service``, ``unknown_service:python``) names no one."""
    for key in keys:
        value = attributes.get(key)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str | int):
            text = str(value).strip()
            if text and not text.startswith(_PLACEHOLDER):
                return text
    return None


@dataclass(frozen=True, slots=True)
class Layout:
    """What a span's attribute names alone decide: spans of one instrumentation share their
    names (in order), so this is worked out once per layout, not per span."""

    #: The keys holding a prompt or completion (dropped unless the trace keeps them).
    prompts: tuple[str, ...]
    #: The keys that may hold a usage count, each with what it must hold.
    counts: tuple[tuple[str, int], ...]
    #: Keys naming non-token usage or a provided amount are present.
    extras: bool
    amounts: bool
    #: ``margin.signal.event_name`` / Paid's ``event_name`` are present.
    signal: bool
    paid_signal: bool
    #: Where the usage counts and the model are.
    reader: SpanReader


#: attribute names, in order → their layout (bounded: a sender varying its keys gets no memo).
_LAYOUTS: dict[tuple[str, ...], Layout] = {}
_LAYOUTS_MAX = 4096


def layout(attributes: Mapping[str, Any]) -> Layout:
    names = tuple(attributes)
    found = _LAYOUTS.get(names)
    if found is None:
        found = Layout(
            tuple(name for name in names if _PROMPT.search(name)),
            tuple(
                (n, _rule(n))
                for n in names
                if _rule(n) != _ANY or (_COUNT.search(n) and n not in _AMOUNT_NAMES)
            ),
            not _EXTRA_NAMES.isdisjoint(names),
            not _AMOUNT_NAMES.isdisjoint(names),
            semconv.SIGNAL_EVENT_NAME in names,
            semconv.PAID_SIGNAL_EVENT_NAME in names,
            SpanReader(names),
        )
        if len(_LAYOUTS) < _LAYOUTS_MAX:
            _LAYOUTS[names] = found
    return found


def stored_attributes(attributes: dict[str, Any], text: bytes, names: Layout) -> str:
    """The attributes as stored (JSON ``text`` as received): without prompts and
    completions, unless the trace asked to keep them (``margin.store_prompt``)."""
    if not names.prompts or attributes.get(_STORE_PROMPT) is True:
        return text.decode()  # no prompt keys (the common case), or the trace keeps them
    prompts = names.prompts
    return stored_json({k: v for k, v in attributes.items() if k not in prompts}).decode()


def count_problem(attributes: Mapping[str, Any], names: Layout) -> str | None:
    """``name: reason`` for the first usage count that cannot be counted as sent (the reader
    would count it as 0, or round it to no number), if any."""
    for name, rule in names.counts:
        reason = _count_reason(attributes[name], rule)
        if reason is not None:
            return f"{name}: a usage count {reason}"
    return None


def _count_reason(value: Any, rule: int) -> str | None:
    if value is None:  # an attribute sent without a value holds no count
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and not math.isfinite(value):
        return "must be a finite number"
    if number and value < 0:
        return "must not be negative"
    if rule == _NUMBER and not number:
        return "must be a number"
    if rule == _WHOLE and to_int(value) is None:
        return "must be a whole number"
    return None
