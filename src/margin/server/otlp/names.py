"""The attribute names the OTLP receiver reads, vendor by vendor (OTel GenAI conventions,
OpenInference, Paid's wrappers, Margin's own), and what a span's names alone decide (its
``Layout``): where its usage and model are, which keys hold prompts, whether it is a signal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from margin import semconv
from margin.usage import SpanReader

__all__ = [
    "AGENT_KEYS",
    "AMOUNTS",
    "CUSTOMER_KEYS",
    "EXTRA_USAGE",
    "INSTRUMENTATION",
    "PAID_SIGNAL_NAMES",
    "Layout",
    "layout",
    "negative_count",
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
    #: The keys that may hold a usage count.
    counts: tuple[str, ...]
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
            tuple(n for n in names if _COUNT.search(n) and n not in _AMOUNT_NAMES),
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
    return orjson.dumps({k: v for k, v in attributes.items() if k not in prompts}).decode()


def negative_count(attributes: Mapping[str, Any], names: Layout) -> str | None:
    """The name of a usage count that is negative, if any (the reader would count it as 0)."""
    for name in names.counts:
        value = attributes[name]
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            return name
    return None
