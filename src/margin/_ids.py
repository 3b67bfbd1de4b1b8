"""Identifiers: prefixed, time-ordered, URL-safe."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id", "new_ids"]

_lock = threading.Lock()
_last_ms = 0
_last_tail = 0


def _reserve(count: int) -> tuple[int, int]:
    """The millisecond and the first of ``count`` consecutive 80-bit tails. Within one
    millisecond the tails count up from the last one handed out (as monotonic ULIDs do), so
    ids made one after another in a process sort in the order they were made: ledger rows
    written in the same millisecond list in the order they happened."""
    global _last_ms, _last_tail
    now = time.time_ns() // 1_000_000
    with _lock:
        if now > _last_ms:
            _last_ms = now
            # Half the range leaves room to count up without carrying into the time.
            _last_tail = int.from_bytes(os.urandom(10)) >> 1
        first = _last_tail + 1
        _last_tail += count
        return _last_ms, first


def _forget_in_child() -> None:
    """A forked child starts its own sequence: counting on from the parent's would make the
    same ids as the parent in the same millisecond."""
    global _lock, _last_ms
    _lock = threading.Lock()
    _last_ms = 0


os.register_at_fork(after_in_child=_forget_in_child)


def new_id(prefix: str) -> str:
    """A new id such as ``cus_0019a4…``: the millisecond time in fixed-width hex, then 80
    bits that start random each millisecond and count up within it, so ids sort by creation."""
    ms, tail = _reserve(1)
    return f"{prefix}_{ms:011x}{tail:020x}"


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids as ``new_id`` makes them, in order, from one reservation (a batch of a
    thousand costs would otherwise take the lock a thousand times)."""
    ms, first = _reserve(count)
    head = f"{prefix}_{ms:011x}"
    return [f"{head}{tail:020x}" for tail in range(first, first + count)]
