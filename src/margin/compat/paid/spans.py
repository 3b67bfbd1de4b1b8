"""Paid's wrapper spans whose token counts follow the provider's own rule: Paid's Anthropic
and Bedrock wrappers put the provider's ``input_tokens`` (which excludes cache reads and
writes) in ``gen_ai.usage.input_tokens`` beside the cache counts. Margin's span rule reads
that key as inclusive (the OTel convention) unless the cache counts exceed it, so for these
spans the cache counts are added here, as Margin's own Anthropic and Bedrock readers do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["wrapper_usage"]

#: Span names of Paid wrappers (every Paid span name is prefixed ``paid.trace.``) whose input
#: count excludes the cache.
_EXCLUSIVE = ("paid.trace.anthropic.", "paid.trace.bedrock.")


def wrapper_usage(
    name: str, attributes: Mapping[str, Any], usage: dict[str, int]
) -> dict[str, int]:
    """``usage`` with the input made inclusive for Paid's Anthropic and Bedrock wrapper spans."""
    if not name.startswith(_EXCLUSIVE):
        return usage
    reported = attributes.get("gen_ai.usage.input_tokens")
    if not isinstance(reported, int) or isinstance(reported, bool) or reported < 0:
        return usage
    cache = usage.get("cache_read_tokens", 0) + usage.get("cache_write_tokens", 0)
    if not cache:
        return usage
    return {**usage, "input_tokens": reported + cache}
