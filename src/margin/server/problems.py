"""RFC 9457 problem details: every error the API returns, and the handlers that produce them.

Every problem carries a correlation id, in its body (``correlation_id``) and in the
``X-Correlation-ID`` header. An unexpected error is logged with its traceback under that id,
so that what a client quotes can be found in the server's log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from margin._ids import new_id
from margin._refusal import Refusal

__all__ = [
    "CORRELATION_HEADER",
    "ERROR_MEDIA_TYPE",
    "PROBLEM_JSON",
    "ErrorBoundary",
    "Problem",
    "describe_problems",
    "field_path",
    "install_handlers",
    "problem_response",
    "validation_problem",
]

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"
#: An operation's OpenAPI extension naming the media type of its own errors, where it is not
#: problem+json (a compatibility route answers them as its vendor's SDK parses them); what
#: the app's outer layers refuse (body size, NUL in a query) and a 500 stay problem+json.
ERROR_MEDIA_TYPE = "x-error-media-type"

log = logging.getLogger("margin.server")

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
    500: "Internal server error",
}
_INTERNAL = (
    "the server failed to handle this request; it was logged: quote the correlation id "
    "when reporting it"
)


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


def problem_response(
    problem: Problem,
    headers: dict[str, str] | None = None,
    *,
    correlation_id: str | None = None,
) -> Response:
    """The response for ``problem``, with a new correlation id unless one is given."""
    correlation_id = correlation_id or new_id("err")
    body = _printable(problem.body())
    body["correlation_id"] = correlation_id
    return Response(
        orjson.dumps(body),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers={**(headers or {}), CORRELATION_HEADER: correlation_id},
    )


def _printable(value: Any) -> Any:
    """``value`` with every string made encodable: a detail or field may echo an input's
    lone surrogate, which JSON cannot carry; it is shown escaped (``\\ud800``)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def field_path(loc: Sequence[int | str]) -> str:
    """A dotted field path from a pydantic error location, without the ``body`` prefix."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else "body"


def validation_problem(exc: RequestValidationError) -> Problem:
    """The 422 of a request's validation errors: each one's field and reason in ``errors``,
    the first as ``<field>: <reason>`` in the detail (as an ingest item's refusal reads)."""
    errors = [
        {
            "field": field_path(err.get("loc", ())),
            # pydantic's prefix of a validator's own reason says nothing to the caller
            "detail": str(err.get("msg", "invalid")).removeprefix("Value error, "),
        }
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "detail": "invalid request"}
    return Problem(422, f"{first['field']}: {first['detail']}", field=first["field"], errors=errors)


def _internal_error(request: Request | None, exc: BaseException) -> Response:
    correlation_id = new_id("err")
    where = f"{request.method} {request.url.path}" if request is not None else "a request"
    log.error("unexpected error %s in %s", correlation_id, where, exc_info=exc)
    return problem_response(Problem(500, _INTERNAL), correlation_id=correlation_id)


def install_handlers(app: FastAPI) -> None:
    """Answer every error, FastAPI's own and unexpected ones included, as problem+json."""

    async def on_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(validation_problem(exc))

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else None
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem_response(Problem(exc.status_code, detail), headers)

    async def on_refusal(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)
        return problem_response(Problem(exc.status, exc.detail, field=exc.field))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return _internal_error(request, exc)

    app.add_exception_handler(Problem, on_problem)
    # What a billing or control service refuses (its status and field), raised from a route.
    app.add_exception_handler(Refusal, on_refusal)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Registered for Exception, Starlette's outermost middleware answers with it.
    app.add_exception_handler(Exception, on_unexpected)


class ErrorBoundary:
    """The outermost layer of the app: an unexpected error never costs the connection.

    Starlette's outermost middleware answers an unexpected error with the handler's 500
    problem and then raises the error again, for the server to log; uvicorn then closes the
    keep-alive connection without saying so, and the client's next request on it fails with
    "connection reset". The error was already logged with its correlation id, so once its
    answer is complete it is dropped here. An error in the middle of a streamed body can no
    longer be answered: it is raised, and the server closing the connection is what tells
    the client the body is cut short.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
                # Errors answered by other layers (e.g. the body limit) get an id too.
                headers = MutableHeaders(scope=message)
                if message["status"] >= 400 and CORRELATION_HEADER not in headers:
                    headers.append(CORRELATION_HEADER, new_id("err"))
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if complete:
                return
            if started:
                raise
            await _internal_error(None, exc)(scope, receive, send)


_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457). `field` names the offending input; quote "
    "`correlation_id` (also in the X-Correlation-ID header) when reporting a 5xx.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "detail"],
                "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
        "correlation_id": {"type": "string"},
    },
}


def _problem_answer(description: str, media_type: str = PROBLEM_JSON) -> dict[str, Any]:
    schema = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {
        "description": description,
        "headers": {
            CORRELATION_HEADER: {
                "description": "The error's id, as in the body's `correlation_id`.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
        "content": {media_type: schema, PROBLEM_JSON: schema},
    }


def describe_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Document in an OpenAPI document the errors every operation may answer, as they are
    answered: problem+json (FastAPI's own 422 schema describes a body Margin never sends)."""
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = _PROBLEM_SCHEMA
    for item in spec.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                continue
            media = operation.pop(ERROR_MEDIA_TYPE, PROBLEM_JSON)
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code[0] in "45":
                    response.update(_problem_answer(response.get("description", ""), media))
            responses.setdefault(
                "4XX", _problem_answer("Bad input, authentication or a missing resource", media)
            )
            responses.setdefault("500", _problem_answer("Unexpected error (logged by its id)"))
    for name in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{name}"'.encode() not in orjson.dumps(spec):
            components.pop(name, None)
    return spec
