"""What every compatibility layer shares: the caller's key (whatever header its SDK sends),
errors in a shape the vendor's SDK parses, routes served with and without a trailing slash,
camelCase models, and the ledger."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from margin.server._payload import PayloadError, check_json
from margin.server.ledger import BatchResult, Ledger
from margin.server.problems import Problem, field_path
from margin.server.state import AppState
from margin.store.keys import Principal, Scope, authenticate

__all__ = [
    "CamelModel",
    "Limit",
    "Offset",
    "VendorRoute",
    "both_slashes",
    "in_thread",
    "ledger",
    "principal",
    "unsupported",
    "vendor_error",
]


class CamelModel(BaseModel):
    """A body in a vendor's camelCase wire: fields by their Python names, JSON by alias;
    unknown fields are ignored, as the vendors' own servers do."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        """What no store can hold (NUL, lone surrogates, 64-bit overflow, deep nesting) is
        refused naming the field, as on Margin's own routes."""
        try:
            check_json(value, info.field_name or "body", depth=1)
        except PayloadError as exc:
            raise PydanticCustomError("storable", "{detail}", {"detail": exc.args[0]}) from None
        return value


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
    with AppState.of(request).db.read() as conn:
        found = authenticate(conn, secret)
    if found is None:
        raise Problem(401, "unknown or revoked API key", field="authorization")
    if not found.allows(scope):
        raise Problem(
            403, f"this key has scope '{found.scope}'; this needs '{scope}'", field="authorization"
        )
    return found


def vendor_error(problem: Problem, media_type: str) -> Response:
    """A problem+json body that the vendors' SDKs also read as their error type: Paid's
    ``{error}`` and Paygentic's ``{message}`` are set beside the RFC 9457 fields."""
    body = problem.body()
    body["error"] = problem.title
    body["message"] = problem.detail
    return Response(orjson.dumps(body), status_code=problem.status, media_type=media_type)


def _validation(exc: RequestValidationError) -> Problem:
    errors = [
        {"field": field_path(e.get("loc", ())), "detail": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "detail": "invalid request"}
    return Problem(422, f"{first['field']}: {first['detail']}", field=first["field"], errors=errors)


class VendorRoute(APIRoute):
    """A route whose errors (its own, and FastAPI's validation errors) are answered with
    ``vendor_error`` in the route class's media type."""

    media_type = "application/problem+json"

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        media_type = self.media_type

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as exc:
                return vendor_error(exc, media_type)
            except RequestValidationError as exc:
                return vendor_error(_validation(exc), media_type)

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
    state = AppState.of(request)
    return Ledger(state.db, state.pricer, state.settings)


async def in_thread(work: Callable[[], BatchResult]) -> BatchResult:
    """Run store work off the event loop (the store is synchronous)."""
    result: BatchResult = await run_in_threadpool(work)
    return result
