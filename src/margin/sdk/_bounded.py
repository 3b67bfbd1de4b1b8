"""Bounded memo dictionaries of the span path: what repeats from call to call is computed
once, and what does not cannot grow them.

A module of its own so that tracing does not import the wire encoder, whose import fails
should an OpenTelemetry release move the private helpers it reuses (delivery then falls
back to the public encoder, and ``import margin`` must still work)."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["keep"]

_K = TypeVar("_K")
_V = TypeVar("_V")


def keep(cache: dict[_K, _V], key: _K, value: _V, limit: int) -> _V:
    """Store ``value`` under ``key`` and return it. A cache holding ``limit`` entries is
    emptied first: what repeats is cached again at once, and one-off keys cannot grow it."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value
