"""Query and body parameters shared by the routes: times and periods, answered as 422
problems naming the parameter."""

from __future__ import annotations

from margin._time import HOUR_US, now_micros, parse_bound
from margin.server.problems import Problem

__all__ = ["period_param", "time_param"]


def time_param(text: str, name: str) -> int:
    """A time (RFC 3339 with an offset, or a date meaning its UTC midnight) in µs."""
    try:
        return parse_bound(text, name)
    except ValueError as exc:
        raise Problem(422, str(exc), field=name) from None


def period_param(
    start: str | None, end: str | None, *, now: int | None = None, whole_hours: bool = True
) -> tuple[int, int]:
    """Period bounds in µs from ``from``/``to``; default: the 30 days up to ``now``.

    Bounds are widened to whole hours (the resolution of the rollups) unless
    ``whole_hours`` is false.
    """
    hi = time_param(end, "to") if end else (now if now is not None else now_micros())
    lo = time_param(start, "from") if start else hi - 30 * 24 * HOUR_US
    if hi <= lo:
        raise Problem(422, "'to' must be after 'from'", field="to")
    if not whole_hours:
        return lo, hi
    return lo - lo % HOUR_US, hi + (-hi % HOUR_US)
