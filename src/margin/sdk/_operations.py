"""The REST operations the client knows, and the base of its resources.

Every method of a resource describes its request through one ``Operation`` (an HTTP method
and the path template the server's OpenAPI document names), so the request is written once
for both clients and the set of operations can be compared with the server's document
(``tests/sdk/test_client_drift.py``): the client cannot silently drift from the API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Generic, TypeVar
from urllib.parse import quote

from margin.sdk._http import Call

__all__ = [
    "OPERATIONS",
    "Operation",
    "Resource",
    "Timestamp",
    "Transport",
    "clean",
    "flag",
    "iso",
    "operation",
]

_R = TypeVar("_R")
_B = TypeVar("_B")
Timestamp = datetime | str | None

#: Every operation any resource uses, in the order they were declared.
OPERATIONS: list[Operation] = []


@dataclass(frozen=True, slots=True)
class Operation:
    """One REST operation: ``method`` and ``path``, a template with ``{name}`` fields."""

    method: str
    path: str

    def call(
        self,
        path: Mapping[str, str] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Call:
        """The request of this operation, its path fields filled in (percent-encoded)."""
        fields = {k: quote(v, safe="") for k, v in (path or {}).items()}
        return Call(
            self.method,
            self.path.format(**fields),
            params=clean(params or {}) or None,
            json=json,
            content=content,
            content_type=content_type,
        )


def operation(method: str, path: str) -> Operation:
    """Declare (and register) an operation."""
    op = Operation(method, path)
    OPERATIONS.append(op)
    return op


@dataclass(frozen=True, slots=True)
class Transport(Generic[_R, _B]):
    """How a client sends: ``json`` answers a decoded JSON body, ``raw`` the body's bytes
    (or writes them to a sink as they arrive and answers ``b""``). The sync client's
    answers are values, the async client's awaitables of them."""

    json: Callable[[Call], _R]
    raw: Callable[[Call, IO[bytes] | None], _B]


class Resource(Generic[_R, _B]):
    """A group of operations (one API resource), bound to a client's transport."""

    def __init__(self, transport: Transport[_R, _B]) -> None:
        self._transport = transport

    def _json(self, call: Call) -> _R:
        return self._transport.json(call)

    def _raw(self, call: Call, sink: IO[bytes] | None = None) -> _B:
        return self._transport.raw(call, sink)


def clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that are set (not None)."""
    return {k: v for k, v in fields.items() if v is not None}


def flag(value: bool | None) -> str | None:
    """A boolean query parameter as the server reads it."""
    return None if value is None else str(value).lower()


def iso(value: Timestamp) -> str | None:
    """A time for a query parameter: an aware datetime in RFC 3339, or text as given."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.isoformat()
    return value
