"""Calendars: billing periods (UTC months named ``YYYY-MM``), UTC days, report windows in an
IANA time zone, and the one default report period ("the last 30 days").

Day, week and month windows start at local midnight, so a day across a DST change lasts 23
or 25 hours; minute and hour windows are fixed lengths of absolute time starting at a local
boundary (an ambiguous local hour is told apart by its UTC offset).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from margin._time import DAY_US, HOUR_US, from_micros, to_micros

__all__ = [
    "DEFAULT_DAYS",
    "TooManyWindows",
    "Window",
    "boundaries",
    "day_starts",
    "days_before",
    "days_between",
    "default_period",
    "last_days",
    "load_zone",
    "month_bounds",
    "period_of",
    "periods_between",
    "prior_start",
    "shift",
    "split_days",
    "whole_hours",
    "window_end",
    "window_start",
]

Window = Literal["minute", "hour", "day", "week", "month"]
_FIXED = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: The length of the default report period, in days (API, CLI and dashboard alike).
DEFAULT_DAYS = 30


# -- billing periods ------------------------------------------------------------------------


def month_bounds(period: str) -> tuple[int, int]:
    """[start, end) in µs of a ``YYYY-MM`` period; raises ``ValueError`` for bad text."""
    match = _PERIOD.match(period)
    if match is None:
        raise ValueError(f"'{period}' is not a period (YYYY-MM)")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1970 <= year < 2200:
        raise ValueError(f"'{period}' is outside the accepted range 1970 … 2199")
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


def periods_between(lo: int, hi: int) -> list[str]:
    """The periods that overlap [lo, hi), oldest first."""
    if hi <= lo:
        return []
    first, last = period_of(lo), period_of(hi - 1)
    out = [first]
    while out[-1] != last:
        out.append(shift(out[-1], 1))
    return out


def days_between(lo: int, hi: int) -> int:
    """Calendar days (UTC) of [lo, hi) touched by the interval (0 when empty)."""
    if hi <= lo:
        return 0
    return (hi - 1) // DAY_US - lo // DAY_US + 1


def day_starts(lo: int, hi: int) -> Iterator[int]:
    """The UTC midnights of the days [lo, hi) touches, for any part of the day."""
    if hi <= lo:
        return
    yield from range(lo - lo % DAY_US, hi, DAY_US)


def split_days(
    lo: int, hi: int, cuts: Iterable[int]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]]]:
    """(exact, hourly, daily) ranges covering [lo, hi) for reading facts kept per hour and
    per UTC day: a whole day no cut lies strictly inside is read per day; an hour a cut lies
    strictly inside is read exactly (fact by fact); everything else per hour."""
    dirty_days = {c - c % DAY_US for c in cuts if lo < c < hi and c % DAY_US}
    dirty_hours = {c - c % HOUR_US for c in cuts if lo < c < hi and c % HOUR_US}
    exact: list[tuple[int, int]] = []
    hourly: list[tuple[int, int]] = []
    daily: list[tuple[int, int]] = []

    def add(ranges: list[tuple[int, int]], a: int, b: int) -> None:
        if b <= a:
            return
        if ranges and ranges[-1][1] == a:
            ranges[-1] = (ranges[-1][0], b)
        else:
            ranges.append((a, b))

    def hours(a: int, b: int) -> None:
        # [a, b) is hour-aligned except perhaps at lo and hi (then read exactly).
        start = a
        while start < b:
            end = min(b, start - start % HOUR_US + HOUR_US)
            partial = start % HOUR_US or (end % HOUR_US and end == b)
            dirty = start - start % HOUR_US in dirty_hours
            add(exact if partial or dirty else hourly, start, end)
            start = end

    first, last = lo + (-lo % DAY_US), hi - hi % DAY_US
    if first >= last:
        hours(lo, hi)
        return exact, hourly, daily
    hours(lo, first)
    for day in range(first, last, DAY_US):
        if day in dirty_days:
            hours(day, day + DAY_US)
        else:
            add(daily, day, day + DAY_US)
    hours(last, hi)
    return exact, hourly, daily


# -- report windows -------------------------------------------------------------------------


def load_zone(name: str) -> ZoneInfo:
    """The time zone named ``name``; raises ``ValueError`` for an unknown or malformed name."""
    if not name or len(name) > 64:
        raise ValueError(f"'{name[:64]}' is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
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


class TooManyWindows(ValueError):
    """A period cut into more windows than a report shows."""


def boundaries(lo: int, hi: int, window: Window, zone: ZoneInfo, limit: int = 2000) -> list[int]:
    """Window starts covering [lo, hi): the first is the window holding ``lo``.

    Raises ``TooManyWindows`` when more than ``limit`` windows would be needed.
    """
    starts = [window_start(lo, window, zone)]
    while True:
        nxt = window_end(starts[-1], window, zone)
        if nxt >= hi:
            return starts
        starts.append(nxt)
        if len(starts) > limit:
            raise TooManyWindows(f"more than {limit} {window} windows")


def prior_start(lo: int, hi: int) -> int:
    """The start of the period of the same length just before [lo, hi), that a report
    compares with (it ends at ``lo``): cut at 1970, before which nothing is dated."""
    return max(lo - (hi - lo), 0)


def days_before(hi: int, days: int = DEFAULT_DAYS) -> int:
    """The start of the ``days`` days up to ``hi`` (a period given only its end), cut at
    1970, before which nothing is dated."""
    return max(hi - days * DAY_US, 0)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # a local wall time


def last_days(now_us: int, zone: ZoneInfo, days: int = DEFAULT_DAYS) -> tuple[int, int]:
    """The default report period: the ``days`` calendar days in ``zone`` that end with the
    day holding ``now_us`` (today included), from local midnight to local midnight."""
    today = window_start(now_us, "day", zone)
    end = window_end(today, "day", zone)
    local = from_micros(today).astimezone(zone).replace(tzinfo=None)
    # Cut at 1970, before which nothing is dated (as ``days_before``): more days than that
    # would also pass the first year a datetime holds.
    back = min(days - 1, (local - _EPOCH).days)
    start = (local - timedelta(days=back)).replace(tzinfo=zone)
    return max(to_micros(_local_midnight(start)), 0), end


def default_period(now_us: int, zone: ZoneInfo, days: int = DEFAULT_DAYS) -> tuple[int, int]:
    """The period a report covers when given no bounds, as the API, the CLI and the
    dashboard read it: ``last_days`` at whole hours (``whole_hours``)."""
    return whole_hours(*last_days(now_us, zone, days))


def whole_hours(lo: int, hi: int) -> tuple[int, int]:
    """A report period [lo, hi) at the rollups' resolution: each bound mid-hour moves to the
    end of its hour, so an hour belongs to the period holding its start (as a rollup bucket
    is placed in a window) and periods that meet share no hour (a day from local midnight in
    a zone half an hour off UTC starts at the next whole hour). A period inside one hour
    covers that hour."""
    start, end = lo + (-lo % HOUR_US), hi + (-hi % HOUR_US)
    if start == end:  # both in one hour (end > lo, as hi > lo)
        return lo - lo % HOUR_US, end
    return start, end
