"""Typed errors raised by the Margin REST client (never by tracing or delivery)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "MarginError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "error_for_status",
]


class MarginError(Exception):
    """Base class of every error the Margin SDK raises."""


class APIConnectionError(MarginError):
    """The server could not be reached (connection refused, timeout, TLS…) after retries."""


class APIError(MarginError):
    """The server answered with an error status; ``problem`` holds the RFC 9457 details."""

    def __init__(self, status: int, problem: Mapping[str, Any] | None = None) -> None:
        self.status = status
        self.problem: dict[str, Any] = dict(problem or {})
        self.type: str | None = self.problem.get("type")
        self.title: str | None = self.problem.get("title")
        self.detail: str | None = self.problem.get("detail")
        self.errors: list[Any] = list(self.problem.get("errors") or [])
        text = self.detail or self.title or "request failed"
        super().__init__(f"{status}: {text}")


class BadRequestError(APIError):
    """400, 413 or 422: the request was invalid and changed nothing."""


class AuthenticationError(APIError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIError):
    """403: the API key lacks the scope this call needs."""


class NotFoundError(APIError):
    """404: no such object in this organization."""


class ConflictError(APIError):
    """409: the request conflicts with existing data (e.g. a reused idempotency key)."""


class RateLimitError(APIError):
    """429: too many requests, still limited after retries."""


class ServerError(APIError):
    """5xx: the server failed, still failing after retries."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    413: BadRequestError,
    422: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_for_status(status: int, problem: Mapping[str, Any] | None) -> APIError:
    """The most specific ``APIError`` for an HTTP status."""
    if status >= 500:
        return ServerError(status, problem)
    return _BY_STATUS.get(status, APIError)(status, problem)
