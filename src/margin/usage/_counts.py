"""The canonical usage record and the counting rules every normalizer applies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from margin._fields import to_int

__all__ = ["USAGE_KEYS", "Usage", "apply_rules", "build", "check_counts", "count", "seconds"]


class Usage(NamedTuple):
    """What one AI call consumed. Every count is a non-negative int (see the package's
    counting rules)."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    input_image_tokens: int = 0
    output_image_tokens: int = 0
    input_video_tokens: int = 0
    output_video_tokens: int = 0
    images: int = 0
    audio_seconds: int = 0
    characters: int = 0
    pages: int = 0
    requests: int = 0
    web_searches: int = 0

    def to_dict(self) -> dict[str, int]:
        """The non-zero counts, keyed by field name, in field order (the stored/wire shape)."""
        return {key: value for key, value in zip(USAGE_KEYS, self, strict=True) if value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Strictly parse the wire shape: an unknown key or a negative/non-integer count raises
        ``ValueError`` naming the key."""
        return cls(**check_counts(data))

    def plus(self, other: Usage) -> Usage:
        """Field-wise sum: the usage of two calls (or two parts of one) together."""
        return Usage(*(a + b for a, b in zip(self, other, strict=True)))


USAGE_KEYS: tuple[str, ...] = Usage._fields
_KEYSET = frozenset(USAGE_KEYS)


def check_counts(data: Mapping[str, Any]) -> dict[str, int]:
    """Validate a canonical usage mapping, returning its non-zero counts."""
    out: dict[str, int] = {}
    for key, value in data.items():
        if key not in _KEYSET:
            raise ValueError(f"unknown usage key {key!r}")
        if type(value) is not int or value < 0:
            raise ValueError(f"usage {key!r} must be a non-negative integer")
        if value:
            out[key] = value
    return out


def count(value: Any) -> int:
    """A count from a reported value (int, integral float, digit string); 0 for anything
    else, negatives included."""
    if type(value) is int:
        return value if value > 0 else 0
    found = to_int(value)
    return found if found is not None and found > 0 else 0


def seconds(value: Any) -> int:
    """A duration in whole seconds, rounded to the nearest (half up), as providers bill
    audio; 0 for anything that is not a non-negative number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return count(value)
    return math.floor(value + 0.5) if math.isfinite(value) else 0


def apply_rules(counts: dict[str, int], *, input_excludes_cache: bool = False) -> None:
    """Make raw counts inclusive, in place: a cache write total at least its 5m/1h split,
    input including cache reads and writes, output including reasoning."""
    split = counts.get("cache_write_5m_tokens", 0) + counts.get("cache_write_1h_tokens", 0)
    if counts.get("cache_write_tokens", 0) < split:
        counts["cache_write_tokens"] = split
    cached = counts.get("cache_read_tokens", 0) + counts.get("cache_write_tokens", 0)
    if input_excludes_cache or counts.get("input_tokens", 0) < cached:
        counts["input_tokens"] = counts.get("input_tokens", 0) + cached
    reasoning = counts.get("reasoning_tokens", 0)
    if counts.get("output_tokens", 0) < reasoning:
        counts["output_tokens"] = counts.get("output_tokens", 0) + reasoning


def build(counts: dict[str, int], *, input_excludes_cache: bool = False) -> Usage:
    """A ``Usage`` from raw counts, after the counting rules (``apply_rules``)."""
    apply_rules(counts, input_excludes_cache=input_excludes_cache)
    return Usage(**counts)
