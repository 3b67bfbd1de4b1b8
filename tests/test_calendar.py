"""The one default report period (API, CLI and dashboard): the last 30 calendar days in a
time zone, today included, from local midnight, widened to whole hours."""

from __future__ import annotations

from datetime import UTC, datetime

from margin._calendar import default_period, load_zone
from margin._time import to_micros


def _at(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def test_the_default_period_is_thirty_local_days_with_today() -> None:
    now = _at("2026-11-15T22:30:00+00:00")
    assert default_period(now, load_zone("UTC")) == (
        _at("2026-10-17T00:00:00+00:00"),
        _at("2026-11-16T00:00:00+00:00"),
    )
    # In Berlin the 30 days cross the end of summer time (25 October): 30 days and an hour.
    assert default_period(now, load_zone("Europe/Berlin")) == (
        _at("2026-10-17T00:00:00+02:00"),
        _at("2026-11-16T00:00:00+01:00"),
    )
    # 22:30 UTC is already the 16th in Tokyo.
    assert default_period(now, load_zone("Asia/Tokyo")) == (
        _at("2026-10-18T00:00:00+09:00"),
        _at("2026-11-17T00:00:00+09:00"),
    )
    assert default_period(now, load_zone("UTC"), 7)[0] == _at("2026-11-09T00:00:00+00:00")


def test_a_half_hour_zone_is_widened_to_whole_hours() -> None:
    lo, hi = default_period(_at("2026-11-15T12:00:00+00:00"), load_zone("Asia/Kolkata"), 1)
    # Local midnight is 18:30 UTC; the rollups are hourly, so 18:00 → 19:00 the next day.
    assert (lo, hi) == (
        to_micros(datetime(2026, 11, 14, 18, tzinfo=UTC)),
        to_micros(datetime(2026, 11, 15, 19, tzinfo=UTC)),
    )
