"""The one default report period (API, CLI and dashboard): the last 30 calendar days in a
time zone, today included, from local midnight, widened to whole hours."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from margin._calendar import default_period, load_zone, whole_hours
from margin._time import HOUR_US, to_micros


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


def test_a_half_hour_zone_starts_its_days_at_the_next_whole_hour() -> None:
    lo, hi = default_period(_at("2026-11-15T12:00:00+00:00"), load_zone("Asia/Kolkata"), 1)
    # Local midnight is 18:30 UTC; the rollups are hourly: the hour from 18:00 belongs to the
    # day holding its start, so this day's hours run 19:00 → 19:00.
    assert (lo, hi) == (
        to_micros(datetime(2026, 11, 14, 19, tzinfo=UTC)),
        to_micros(datetime(2026, 11, 15, 19, tzinfo=UTC)),
    )


# Cuts anywhere in distinct hours, a whole hour or more apart: each part holds an hour's start.
_CUTS = st.lists(
    st.tuples(st.integers(0, 4800), st.integers(0, HOUR_US - 1)),
    min_size=2,
    max_size=12,
    unique_by=lambda cut: cut[0],
)


@given(_CUTS)
def test_periods_that_meet_share_no_hour_and_leave_none_out(hours: list[tuple[int, int]]) -> None:
    hours.sort()
    cuts = [hour * HOUR_US + offset for hour, offset in hours]
    if any(_ceil(a) == _ceil(b) for a, b in itertools.pairwise(cuts)):
        return  # a part inside one hour covers that hour (below)
    periods = [whole_hours(a, b) for a, b in itertools.pairwise(cuts)]
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(periods))
    assert (periods[0][0], periods[-1][1]) == whole_hours(cuts[0], cuts[-1])


def _ceil(t: int) -> int:
    return t + (-t % HOUR_US)


def test_a_period_inside_one_hour_covers_that_hour() -> None:
    hour = _at("2026-11-15T12:00:00+00:00")
    assert whole_hours(hour + 60_000_000, hour + 120_000_000) == (hour, hour + HOUR_US)
    assert whole_hours(hour, hour + 60_000_000) == (hour, hour + HOUR_US)
