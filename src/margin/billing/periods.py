"""Billing periods: calendar months in UTC, named ``YYYY-MM``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from margin._time import DAY_US, from_micros, to_micros

__all__ = ["days_between", "month_bounds", "period_of", "shift"]

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_bounds(period: str) -> tuple[int, int]:
    """[start, end) in µs of a ``YYYY-MM`` period; raises ``ValueError`` for bad text."""
    match = _PERIOD.match(period)
    if match is None:
        raise ValueError(f"'{period}' is not a period (YYYY-MM)")
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return to_micros(start), to_micros(end)


def period_of(ts_us: int) -> str:
    """The ``YYYY-MM`` period holding ``ts_us``."""
    moment = from_micros(ts_us)
    return f"{moment.year:04d}-{moment.month:02d}"


def shift(period: str, months: int) -> str:
    """The period ``months`` after (or before) ``period``."""
    year, month = int(period[:4]), int(period[5:])
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def days_between(lo: int, hi: int) -> int:
    """Calendar days (UTC) of [lo, hi) touched by the interval (0 when empty)."""
    if hi <= lo:
        return 0
    return (hi - 1) // DAY_US - lo // DAY_US + 1
