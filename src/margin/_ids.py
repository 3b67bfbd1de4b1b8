"""Identifiers: prefixed, time-ordered, URL-safe."""

from __future__ import annotations

import os
import time

__all__ = ["new_id", "new_ids"]


def new_id(prefix: str) -> str:
    """A new id such as ``cus_0019a4…``: the millisecond time in fixed-width hex first (so
    ids sort by creation), then 80 random bits."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{os.urandom(10).hex()}"


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids as ``new_id`` makes them, from one read of the random source (a batch of
    a thousand costs would otherwise make a thousand system calls)."""
    head = f"{prefix}_{time.time_ns() // 1_000_000:011x}"
    noise = os.urandom(10 * count).hex()
    return [head + noise[i : i + 20] for i in range(0, 20 * count, 20)]
