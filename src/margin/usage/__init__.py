"""Canonical usage: one shape for what an AI call consumed, whatever reported it.

Counting rules (the ones pricing relies on):

- ``input_tokens`` is INCLUSIVE: it counts cache reads, cache writes and every input modality.
  ``cache_write_tokens`` includes its ``cache_write_5m_tokens`` / ``cache_write_1h_tokens``
  splits; ``input_{audio,image,video}_tokens`` are subsets of ``input_tokens``.
- ``output_tokens`` is INCLUSIVE of ``reasoning_tokens`` and of output modalities.
- Sources that report input *exclusive* of cache (Anthropic's and Bedrock's raw usage) are
  converted by their normalizer.
- Durations are whole seconds, rounded to the nearest (half up).

Where usage comes from: a provider's response (one normalizer per shape, in ``_responses``),
span attributes (``SpanReader``), or the canonical wire shape (``Usage.from_dict``).
``normalize_usage`` accepts any of the three, as ``POST /v1/costs`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from margin.semconv import USAGE_PREFIXES
from margin.usage._counts import USAGE_KEYS, Usage, apply_rules, check_counts, seconds
from margin.usage._provider_ids import canonical_provider
from margin.usage._responses import (
    NATIVE_KEYS,
    anthropic_usage,
    bedrock_usage,
    from_provider,
    gemini_usage,
    langchain_usage,
    mistral_usage,
    openai_image_usage,
    openai_transcription_usage,
    openai_usage,
)
from margin.usage._spans import SpanModel, SpanReader, from_span_attributes, usage_attributes

__all__ = [
    "USAGE_KEYS",
    "SpanModel",
    "SpanReader",
    "Usage",
    "anthropic_usage",
    "bedrock_usage",
    "canonical_provider",
    "check_counts",
    "from_provider",
    "from_span_attributes",
    "gemini_usage",
    "langchain_usage",
    "mistral_usage",
    "normalize_usage",
    "openai_image_usage",
    "openai_transcription_usage",
    "openai_usage",
    "seconds",
    "usage_attributes",
]

_KEYSET = frozenset(USAGE_KEYS)
_TOTALS = frozenset({"total_tokens", "total_token_count", "totalTokens", "totalTokenCount"})


def normalize_usage(data: Mapping[str, Any], provider: str | None = None) -> Usage:
    """Usage from an API usage block: canonical keys (strict), a provider's usage block or
    whole response (``provider`` decides where two shapes share their names), or span
    attributes / Paid ``costData.attributes`` (recognised by their ``gen_ai.usage.*``,
    ``llm.token_count.*`` or ``margin.usage.*`` keys; other attributes there are ignored, as
    spans carry many). Totals are ignored: they are sums of the other counts. Raises
    ``ValueError`` naming a key it cannot place."""
    keys = data.keys() - _TOTALS
    if keys <= _KEYSET:
        return Usage(**check_counts({k: data[k] for k in keys}))
    if keys & NATIVE_KEYS:
        return from_provider(data, provider)
    if any(k.startswith(USAGE_PREFIXES) for k in keys):
        canonical = check_counts({k: data[k] for k in keys & _KEYSET})
        counts = from_span_attributes(data).to_dict() | canonical
        apply_rules(counts)
        return Usage(**counts)
    raise ValueError(f"unknown usage key {sorted(keys - _KEYSET)[0]!r}")
