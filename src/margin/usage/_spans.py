"""Usage and model in span attributes: what Margin's wrappers write, and how the server reads
the spans of any instrumentation (OpenTelemetry GenAI names old and new, OpenInference,
Traceloop, Paid, native provider spans).

For span attributes, whose emitter is unknown, the GenAI convention's rule applies (input
includes cache) unless the reported cache buckets exceed the reported input: then the input
cannot have included them, and they are added (older Anthropic instrumentations)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from margin.semconv import MODEL_ALIASES, USAGE_ALIASES, USAGE_ATTRIBUTES
from margin.usage._counts import USAGE_KEYS, Usage, apply_rules, count
from margin.usage._provider_ids import canonical_provider

__all__ = ["SpanModel", "SpanReader", "from_span_attributes", "usage_attributes"]


_ATTRIBUTE_NAMES = tuple(USAGE_ATTRIBUTES[key] for key in USAGE_KEYS)


def usage_attributes(usage: Usage) -> dict[str, int]:
    """The span attributes Margin's wrappers record for ``usage``: one per non-zero count,
    named as ``semconv.USAGE_ATTRIBUTES`` says (and read back as the same ``Usage``)."""
    return {name: value for name, value in zip(_ATTRIBUTE_NAMES, usage, strict=True) if value}


class SpanModel(NamedTuple):
    """Who served a span's call: catalog provider id, model, operation and response id."""

    provider: str | None
    model: str | None
    operation: str | None
    response_id: str | None


def _text(attributes: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attributes[name]
        if isinstance(value, str) and value:
            return value
    return None


class SpanReader:
    """Reads usage and model from the attributes of spans that share one layout (the same
    attribute names). Which attribute holds which count depends only on the names present,
    and spans of one instrumentation share their names, so a caller that sees many spans
    makes one reader per layout and uses it for every such span."""

    __slots__ = ("_counts", "_fields")

    def __init__(self, names: Iterable[str]) -> None:
        present = set(names)
        counts = []
        for key in USAGE_KEYS:
            name = next((alias for alias in USAGE_ALIASES[key] if alias in present), None)
            if name is not None:
                counts.append((key, name))
        #: (usage key, attribute name) of each count reported, in ``USAGE_KEYS`` order; for
        #: each count the first alias present decides, even when it is 0.
        self._counts = tuple(counts)
        #: The names of ``MODEL_ALIASES`` present, per ``SpanModel`` field.
        self._fields = tuple(tuple(n for n in group if n in present) for group in MODEL_ALIASES)

    def usage(self, attributes: Mapping[str, Any]) -> dict[str, int]:
        """The non-zero canonical counts, in ``USAGE_KEYS`` order."""
        counts: dict[str, int] = {}
        for key, name in self._counts:
            value = count(attributes[name])
            if value:
                counts[key] = value
        if counts:
            size = len(counts)
            apply_rules(counts)
            if len(counts) != size:  # a rule added a count: back to field order
                counts = {key: counts[key] for key in USAGE_KEYS if key in counts}
        return counts

    def model(self, attributes: Mapping[str, Any]) -> SpanModel:
        """Provider (as the catalog's id), model (the response's over the request's),
        operation and response id."""
        provider, model, operation, response_id = self._fields
        return SpanModel(
            canonical_provider(_text(attributes, provider)) if provider else None,
            _text(attributes, model) if model else None,
            _text(attributes, operation) if operation else None,
            _text(attributes, response_id) if response_id else None,
        )


def from_span_attributes(attributes: Mapping[str, Any]) -> Usage:
    """Usage from the attributes of one span, of any instrumentation."""
    return Usage(**SpanReader(attributes).usage(attributes))
