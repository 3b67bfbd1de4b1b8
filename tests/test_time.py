"""Times users give Margin: one parser, one accepted range, errors naming the parameter."""

from __future__ import annotations

import pytest

from margin._time import DAY_US, TimeRangeError, parse_bound, parse_timestamp, to_micros
from margin_testing import Api


def test_a_date_is_its_utc_midnight_and_a_time_keeps_its_offset() -> None:
    assert parse_bound("2026-10-01", "from") == 20_727 * DAY_US
    assert parse_bound("2026-10-01T02:00:00+02:00", "from") == 20_727 * DAY_US
    assert to_micros(parse_timestamp("1970-01-01T00:00:00Z")) == 0


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00Z", "1969-12-31T23:59:59Z", "2200-01-01"],
)
def test_times_outside_the_range_are_refused_by_name(text: str) -> None:
    with pytest.raises(TimeRangeError, match=r"^to: .*outside the accepted range"):
        parse_bound(text, "to")


@pytest.mark.parametrize("text", ["0", "1700000000", "2026-10-01T09:30:00", "2026-13-01", "x"])
def test_numbers_naive_times_and_junk_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match=r"^from: "):
        parse_bound(text, "from")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/reports/summary",
        "/v1/reports/margin",
        "/v1/reports/overview",
        "/v1/reports/unit-economics",
        "/v1/reports/cost-per-outcome?event_name=x&",
        "/v1/signals",
        "/v1/costs",
    ],
)
@pytest.mark.parametrize(
    ("name", "value"), [("to", "9999-12-31T23:30:00Z"), ("from", "0001-01-01T00:30:00+01:00")]
)
def test_extreme_query_times_get_422_naming_the_parameter(
    api: Api, path: str, name: str, value: str
) -> None:
    sep = "&" if "?" in path else "?"
    response = api.get(f"{path}{sep}{name}={value}".replace("?&", "?"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == name
