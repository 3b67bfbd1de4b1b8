"""Time: timezone-aware datetimes in Python, integer microseconds since the epoch in storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["from_micros", "isoformat", "now_micros", "parse_timestamp", "to_micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


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


def parse_timestamp(value: str) -> datetime:
    """Parse RFC 3339 text into an aware datetime; a naive value is refused."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("timestamp must carry a timezone offset (for example 'Z')")
    return parsed
