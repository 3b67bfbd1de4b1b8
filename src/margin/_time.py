"""Time: timezone-aware datetimes in Python, integer microseconds since the epoch in storage.

One rule for every time a user gives Margin, whether a fact's timestamp or a query's bound:
RFC 3339 with an offset (``2026-10-01T09:30:00Z``), or — for query bounds only — a date,
meaning its UTC midnight. Every time must lie in ``[EARLIEST, LATEST)``; a fact's timestamp
may further be at most ``max_future`` ahead of now (checked where facts are ingested).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

__all__ = [
    "DAY_US",
    "EARLIEST",
    "HOUR_US",
    "LATEST",
    "TimeRangeError",
    "check_range",
    "from_micros",
    "isoformat",
    "now_micros",
    "parse_bound",
    "parse_timestamp",
    "to_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000

#: The earliest time Margin stores or queries (inclusive): the Unix epoch.
EARLIEST = _EPOCH
#: The latest time a query may name (exclusive). Far beyond any fact, near enough that every
#: calendar computation on it (windows, periods, time zones) stays inside ``datetime``.
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class TimeRangeError(ValueError):
    """A time that parses but lies outside ``[EARLIEST, LATEST)``."""


def now_micros() -> int:
    """The current time as microseconds since the Unix epoch."""
    return to_micros(datetime.now(UTC))


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime."""
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone")
    return (value - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC datetime of a count of microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def isoformat(micros: int) -> str:
    """RFC 3339 text (UTC, ``Z``) of a count of microseconds since the epoch."""
    return from_micros(micros).isoformat().replace("+00:00", "Z")


def check_range(value: datetime, name: str = "timestamp") -> datetime:
    """``value`` if it lies in ``[EARLIEST, LATEST)``; else ``TimeRangeError`` naming it."""
    try:
        inside = EARLIEST <= value < LATEST
    except OverflowError:  # an offset that pushes the UTC value past datetime's range
        inside = False
    if not inside:
        raise TimeRangeError(
            f"{name}: {value.isoformat()} is outside the accepted range "
            f"{EARLIEST.date().isoformat()} … {LATEST.date().isoformat()}"
        )
    return value


def parse_timestamp(value: str, name: str = "timestamp") -> datetime:
    """Parse RFC 3339 text into an aware datetime inside the accepted range.

    A naive value, a bare number and a time outside ``[EARLIEST, LATEST)`` are refused with a
    ``ValueError`` (``TimeRangeError`` for the range) whose message starts with ``name``.
    """
    if "T" in value:
        # The common form (``2026-10-05T12:00:00Z``) parses as it stands; anything else, or
        # anything naive, takes the full path below, which names what is wrong.
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return check_range(parsed, name)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "T" not in text.upper() and " " not in text:
        raise ValueError(f"{name}: '{value}' is not an RFC 3339 time with an offset")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: '{value}' is not an RFC 3339 time with an offset") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name}: timestamp must carry a timezone offset (for example 'Z')")
    return check_range(parsed, name)


def parse_bound(value: str, name: str) -> int:
    """A query bound in µs: RFC 3339 with an offset, or a date (``YYYY-MM-DD``, its UTC
    midnight). Raises ``ValueError`` naming ``name`` for anything else or out of range."""
    text = value.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name}: '{value}' is not an RFC 3339 time or a date") from None
        return to_micros(check_range(datetime(day.year, day.month, day.day, tzinfo=UTC), name))
    try:
        return to_micros(parse_timestamp(text, name))
    except TimeRangeError:
        raise
    except ValueError:
        raise ValueError(f"{name}: '{value}' is not an RFC 3339 time or a date") from None
