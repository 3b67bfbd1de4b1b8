"""Query and path parameters shared by the routes: times and periods, answered as 422
problems naming the parameter, and the app-wide refusal of NUL in any parameter."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from margin import _calendar
from margin._calendar import days_before
from margin._time import now_micros, parse_bound
from margin.server.problems import Problem, problem_response

__all__ = ["NulGuard", "nul_parameter", "period_param", "reject_nul_in_path", "time_param"]


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

    Bounds are at whole hours (``margin._calendar.whole_hours``: the resolution of the
    rollups) unless ``whole_hours`` is false.
    """
    hi = time_param(end, "to") if end else (now if now is not None else now_micros())
    lo = time_param(start, "from") if start else days_before(hi)
    if hi <= lo:
        raise Problem(422, "'to' must be after 'from'", field="to")
    return _calendar.whole_hours(lo, hi) if whole_hours else (lo, hi)


def nul_parameter(scope: Scope) -> str | None:
    """The name of a query parameter of this request that holds a NUL character, or None."""
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "\\u0000")
    return None


def reject_nul_in_path(request: Request) -> None:
    """An app-wide dependency: a path parameter holding NUL is a 422 naming it (path
    parameters are known only once a route matched, after ``NulGuard`` ran)."""
    for name, value in request.path_params.items():
        if "\x00" in str(value):
            raise Problem(422, f"{name}: NUL characters are not allowed in parameters", field=name)


class NulGuard:
    """Refuse NUL (``%00``) in a query parameter, on every route, with a 422 that names the
    parameter (``reject_nul_in_path`` does the same for path parameters).

    PostgreSQL cannot hold NUL in text while SQLite can, so without this the same request
    would be stored on one and answered 500 on the other; no identifier or filter needs it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            name = nul_parameter(scope)
            if name is not None:
                problem = Problem(
                    422, f"{name}: NUL characters are not allowed in parameters", field=name
                )
                await problem_response(problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)
