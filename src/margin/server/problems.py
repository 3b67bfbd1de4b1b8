"""RFC 9457 problem details: every error the API returns, and the handlers that produce them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

__all__ = ["Problem", "field_path", "install_handlers", "problem_response"]

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
}


class Problem(Exception):
    """An error answered as ``application/problem+json``.

    ``field`` names the offending input (a dotted path such as ``items.3.timestamp``);
    ``errors`` lists several field errors at once.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        title: str | None = None,
        type_: str = "about:blank",
        errors: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.title = title or _TITLES.get(status, "Error")
        self.type = type_
        self.errors = list(errors) if errors else []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
        if self.errors:
            body["errors"] = self.errors
        return body


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(problem.body()),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_path(loc: Sequence[int | str]) -> str:
    """A dotted field path from a pydantic error location, without the ``body`` prefix."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else "body"


def _validation_problem(exc: RequestValidationError) -> Problem:
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # located by its offset in the body
            reason = (err.get("ctx") or {}).get("error", "")
            return Problem(400, f"body is not valid JSON: {reason}", field="body")
    errors = [
        {"field": field_path(err.get("loc", ())), "detail": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "detail": "invalid request"}
    return Problem(422, f"{first['field']}: {first['detail']}", field=first["field"], errors=errors)


def install_handlers(app: FastAPI) -> None:
    """Answer every error, including FastAPI's own, as problem+json."""

    async def on_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(_validation_problem(exc))

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem_response(Problem(exc.status_code, detail), headers)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
