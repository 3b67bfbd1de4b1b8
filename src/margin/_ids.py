"""Identifiers: prefixed, time-ordered, URL-safe."""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]


def new_id(prefix: str) -> str:
    """A new id such as ``cus_0019a4…``: the millisecond time in fixed-width hex first (so
    ids sort by creation), then 80 random bits."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{os.urandom(10).hex()}"
