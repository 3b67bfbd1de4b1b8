"""Bearer-key authentication and scope checks, as FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import Principal, Scope, authenticate

__all__ = ["principal_from_request", "require"]


def principal_from_request(request: Request) -> Principal:
    """The caller's principal, from ``Authorization: Bearer <key>`` (or the dashboard's
    session cookie). Raises a 401 problem when absent or unknown."""
    header = request.headers.get("authorization", "")
    secret = ""
    if header[:7].lower() == "bearer ":
        secret = header[7:].strip()
    if not secret:
        secret = request.cookies.get("margin_session", "")
    if not secret:
        raise Problem(
            401, "missing API key: send 'Authorization: Bearer <key>'", field="authorization"
        )
    state = AppState.of(request)
    with state.db.read() as conn:
        principal = authenticate(conn, secret)
    if principal is None:
        raise Problem(401, "unknown or revoked API key", field="authorization")
    return principal


def require(scope: Scope) -> Callable[[Request], Principal]:
    """A dependency that authenticates and checks that the key's scope allows ``scope``."""

    def dependency(request: Request) -> Principal:
        principal = principal_from_request(request)
        if not principal.allows(scope):
            raise Problem(
                403,
                f"this key has scope '{principal.scope}'; this needs '{scope}'",
                field="authorization",
            )
        return principal

    return dependency
