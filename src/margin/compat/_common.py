"""What every compatibility layer shares: the caller's key (whatever header its SDK sends),
errors in a shape the vendor's SDK parses, routes served with and without a trailing slash,
camelCase models, and the ledger."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from margin._ids import new_id
from margin._payload import PayloadError, check_json
from margin.server.auth import key_principal
from margin.server.ledger import BatchResult, Ledger
from margin.server.problems import (
    CORRELATION_HEADER,
    ERROR_MEDIA_TYPE,
    PROBLEM_JSON,
    Problem,
    field_path,
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
    "parse_exact",
    "principal",
    "unsupported",
    "utc",
    "vendor_error",
]


class CamelModel(BaseModel):
    """A body in a vendor's camelCase wire: fields by their Python names, JSON by alias;
    unknown fields are ignored, as the vendors' own servers do.

    Bodies are parsed exactly (``parse_exact``): a JSON number with a fraction arrives as a
    ``Decimal``, which an amount field keeps to the digit. In free-form JSON (``data``,
    ``metadata``) it becomes the float every JSON parser makes of it, so that both stores
    can hold it as JSON."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=True
    )

    #: Fields holding a batch's raw items, each validated (and refused) on its own later: a
    #: bad value in one item must fail that item, not the whole batch.
    raw_items: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        """What no store can hold (NUL, lone surrogates, 64-bit overflow, deep nesting) is
        refused naming the field, as on Margin's own routes."""
        if info.field_name in cls.raw_items:
            return value
        try:
            check_json(value, info.field_name or "body", depth=1)
        except PayloadError as exc:
            raise PydanticCustomError("storable", "{detail}", {"detail": exc.args[0]}) from None
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _json_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.raw_items or not isinstance(value, dict | list):
            return value
        try:
            return _floats(value, info.field_name or "body")
        except PayloadError as exc:
            raise PydanticCustomError("storable", "{detail}", {"detail": exc.args[0]}) from None


def parse_exact(raw: bytes | str) -> Any:
    """A JSON body with every number as sent: integers as ``int``, numbers with a fraction or
    an exponent (and ``NaN``/``Infinity``, refused by the models) as ``Decimal``; no float
    ever holds an amount. Raises ``json.JSONDecodeError`` as ``json.loads`` does."""
    return json.loads(raw, parse_float=Decimal, parse_constant=Decimal)


def _floats(value: Any, path: str) -> Any:
    """``value`` with each ``Decimal`` (of free-form JSON) as a float; one that no float
    holds (NaN, Infinity, 1e999) is refused naming its path."""
    if isinstance(value, Decimal):
        number = float(value)
        if not math.isfinite(number):
            raise PayloadError(path, "number must be finite")
        return number
    if isinstance(value, dict):
        return {k: _floats(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v, f"{path}.{i}") for i, v in enumerate(value)]
    return value


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


def _validation(exc: RequestValidationError) -> Problem:
    errors = [
        {"field": field_path(e.get("loc", ())), "detail": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "detail": "invalid request"}
    return Problem(422, f"{first['field']}: {first['detail']}", field=first["field"], errors=errors)


class _ExactRequest(Request):
    """A request whose JSON body is parsed by ``parse_exact`` (FastAPI reads a body through
    ``Request.json``), so that an amount sent as a JSON number is never rounded."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_exact(await self.body())
        return self._json


class VendorRoute(APIRoute):
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
                return await handler(_ExactRequest(request.scope, request.receive))
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
    return AppState.of(request).ledger()


async def in_thread(work: Callable[[], BatchResult]) -> BatchResult:
    """Run store work off the event loop (the store is synchronous)."""
    result: BatchResult = await run_in_threadpool(work)
    return result
