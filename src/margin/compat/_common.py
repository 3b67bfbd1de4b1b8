"""What every compatibility layer shares: the caller's key (whatever header its SDK sends),
errors in a shape the vendor's SDK parses, routes served with and without a trailing slash,
camelCase models, and the ledger."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from margin._ids import new_id
from margin._storable import Storable
from margin.server.auth import key_principal
from margin.server.exact_json import ExactJsonRoute
from margin.server.ledger import BatchResult, Ledger
from margin.server.problems import (
    CORRELATION_HEADER,
    ERROR_MEDIA_TYPE,
    PROBLEM_JSON,
    Problem,
    validation_problem,
)
from margin.server.state import AppState
from margin.store.keys import Principal, Scope

__all__ = [
    "CamelModel",
    "Count",
    "Limit",
    "Offset",
    "VendorRoute",
    "both_slashes",
    "in_thread",
    "ledger",
    "not_bool",
    "principal",
    "unsupported",
    "utc",
    "vendor_error",
]


class CamelModel(Storable):
    """A body in a vendor's camelCase wire: fields by their Python names, JSON by alias;
    unknown fields are ignored, as the vendors' own servers do. Its values are checked and
    its numbers read as every request model's (``Storable``): an amount sent as a JSON
    number is kept to the digit."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


def not_bool(value: Any) -> Any:
    # JSON's true is not the count 1: pydantic's lax int would take it as one.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def utc(moment: datetime) -> str:
    """A wire timestamp in UTC: the same instant sent with another offset is the same
    content (not a conflict under its idempotency key). One with no UTC form (year 1 at a
    positive offset) is passed on as sent, for Margin's range check to refuse by name."""
    try:
        return moment.astimezone(UTC).isoformat()
    except OverflowError:
        return moment.isoformat()


#: A count (tokens, characters): a non-negative JSON integer, never a boolean.
Count = Annotated[int, BeforeValidator(not_bool), Field(ge=0)]

# A page of a vendor's list; an offset past any store's 64-bit range is a 422, not a 500.
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]


def principal(request: Request, scope: Scope, headers: Sequence[str] = ()) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or one of ``headers`` (a vendor's own
    key header, such as Paygent's ``paygent-api-key``), holding a Margin API key."""
    auth = request.headers.get("authorization", "")
    secret = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    for name in headers:
        secret = secret or request.headers.get(name, "").strip()
    if not secret:
        names = " or ".join(["'Authorization: Bearer <key>'", *(f"'{h}'" for h in headers)])
        raise Problem(401, f"missing API key: send {names}", field="authorization")
    found = key_principal(AppState.of(request), secret)
    if found is None:
        raise Problem(401, "unknown or revoked API key", field="authorization")
    if not found.allows(scope):
        raise Problem(
            403, f"this key has scope '{found.scope}'; this needs '{scope}'", field="authorization"
        )
    return found


def vendor_error(problem: Problem, media_type: str) -> Response:
    """A problem+json body that the vendors' SDKs also read as their error type: Paid's
    ``{error}`` and Paygentic's ``{message}`` are set beside the RFC 9457 fields, and the
    correlation id is in the body and the header as on Margin's own routes."""
    correlation_id = new_id("err")
    body = problem.body()
    body["error"] = problem.title
    body["message"] = problem.detail
    body["correlation_id"] = correlation_id
    return Response(
        orjson.dumps(body),
        status_code=problem.status,
        media_type=media_type,
        headers={CORRELATION_HEADER: correlation_id},
    )


class VendorRoute(ExactJsonRoute):
    """A route whose errors (its own, and FastAPI's validation errors) are answered with
    ``vendor_error`` in the route class's media type; its OpenAPI operation says so, for
    ``describe_problems`` to document the errors in that media type."""

    media_type = PROBLEM_JSON

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = dict(kwargs.pop("openapi_extra", None) or {})
        extra[ERROR_MEDIA_TYPE] = self.media_type
        super().__init__(path, endpoint, openapi_extra=extra, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        media_type = self.media_type

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as exc:
                return vendor_error(exc, media_type)
            except RequestValidationError as exc:
                return vendor_error(validation_problem(exc), media_type)

        return route


def both_slashes(router: APIRouter, method: str, path: str, **kwargs: Any) -> Callable[[Any], Any]:
    """Register a route at ``path`` and at ``path/`` (vendors' SDKs send list and create
    paths with a trailing slash, and a redirect would lose a POST's body)."""

    def register(func: Any) -> Any:
        router.add_api_route(path, func, methods=[method], **kwargs)
        other = path[:-1] if path.endswith("/") else path + "/"
        router.add_api_route(other, func, methods=[method], include_in_schema=False, **kwargs)
        return func

    return register


def unsupported(router: APIRouter, prefix: str, product: str) -> None:
    """Answer every other path under ``prefix`` with a 404 naming the endpoint as not
    supported (included last, after the supported routes)."""

    async def not_supported(request: Request, rest: str) -> Response:
        raise Problem(
            404,
            f"{request.method} {request.url.path} is not supported by Margin's {product} "
            "compatibility layer",
            field="path",
            title="Not supported",
        )

    router.add_api_route(
        prefix + "/{rest:path}",
        not_supported,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )


def ledger(request: Request) -> Ledger:
    return AppState.of(request).ledger()


async def in_thread(work: Callable[[], BatchResult]) -> BatchResult:
    """Run store work off the event loop (the store is synchronous)."""
    result: BatchResult = await run_in_threadpool(work)
    return result
