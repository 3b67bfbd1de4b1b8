"""Calendar windows in an IANA time zone: minute, hour, day, week (Monday) and month.

Day, week and month windows start at local midnight, so a day across a DST change lasts 23
or 25 hours; minute and hour windows are fixed lengths of absolute time starting at a local
boundary (an ambiguous local hour is told apart by its UTC offset).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from margin._time import from_micros, to_micros

__all__ = ["Window", "boundaries", "load_zone", "window_end", "window_start"]

Window = Literal["minute", "hour", "day", "week", "month"]
_FIXED = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}


def load_zone(name: str) -> ZoneInfo:
    """The time zone named ``name``; raises ``ValueError`` for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone") from None


def _local_midnight(local: datetime) -> datetime:
    return local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)


def window_start(ts_us: int, window: Window, zone: ZoneInfo) -> int:
    """The start (µs since the epoch) of the window holding ``ts_us``."""
    local = from_micros(ts_us).astimezone(zone)
    if window == "minute":
        start = local.replace(second=0, microsecond=0)
    elif window == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif window == "day":
        start = _local_midnight(local)
    elif window == "week":
        start = _local_midnight(local) - timedelta(days=local.weekday())
        start = start.replace(tzinfo=zone)
    else:
        start = _local_midnight(local).replace(day=1)
    return to_micros(start)


def window_end(start_us: int, window: Window, zone: ZoneInfo) -> int:
    """The end (exclusive) of the window starting at ``start_us``."""
    if window in _FIXED:
        return start_us + int(_FIXED[window].total_seconds() * 1_000_000)
    local = from_micros(start_us).astimezone(zone)
    if window == "day":
        nxt = (local.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
    elif window == "week":
        nxt = (local.replace(tzinfo=None) + timedelta(days=7)).replace(tzinfo=zone)
    else:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        nxt = local.replace(year=year, month=month, fold=0)
    return to_micros(_local_midnight(nxt))


def boundaries(lo: int, hi: int, window: Window, zone: ZoneInfo, limit: int = 2000) -> list[int]:
    """Window starts covering [lo, hi): the first is the window holding ``lo``.

    Raises ``ValueError`` when more than ``limit`` windows would be needed.
    """
    starts = [window_start(lo, window, zone)]
    while True:
        nxt = window_end(starts[-1], window, zone)
        if nxt >= hi:
            return starts
        starts.append(nxt)
        if len(starts) > limit:
            raise ValueError(f"window: more than {limit} {window} windows; choose a larger one")
