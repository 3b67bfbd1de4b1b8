"""Who is calling: a Bearer API key, or the dashboard's session cookie; scope checks and the
CSRF rule for cookie-authenticated changes, as FastAPI dependencies.

The cookie is read in one place (``session_token``), by authentication and by the CSRF rule
alike, so that no request can be authenticated by a cookie the CSRF rule did not see.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection, Request

from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import Principal, Scope, authenticate, hash_key
from margin.store.sessions import session_principal

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "bearer_secret",
    "key_principal",
    "principal_from_request",
    "require",
    "session_from_request",
    "session_token",
]

COOKIE = "margin_session"
CSRF_HEADER = "x-margin-csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: How long a key seen valid is trusted while the database does not answer (queue mode).
KEY_GRACE_MICROS = 15 * 60 * 1_000_000


def bearer_secret(request: HTTPConnection) -> str:
    """The key in ``Authorization: Bearer <key>``, or ``""``."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def session_token(request: HTTPConnection) -> str:
    """The session token in the request's cookie, or ``""``."""
    return request.cookies.get(COOKIE, "")


def session_from_request(request: HTTPConnection) -> Principal | None:
    """The principal of the request's live session, if any (no CSRF check: for pages)."""
    token = session_token(request)
    if not token:
        return None
    state = AppState.of(request)
    with state.db.read() as conn:
        return session_principal(conn, token, now=state.clock())


def principal_from_request(request: HTTPConnection) -> Principal:
    """The caller's principal, from ``Authorization: Bearer <key>`` or else the dashboard's
    session cookie. Raises a 401 problem when absent or unknown, and a 403 for a
    cookie-authenticated change without the ``X-Margin-CSRF`` header.

    Once a cookie authenticates API calls, another site could make a browser send one; the
    custom header cannot be set cross-site without a CORS preflight, which this server never
    grants. A Bearer key is no ambient credential, so Bearer calls need no such header.
    """
    secret = bearer_secret(request)
    if secret:
        principal = key_principal(AppState.of(request), secret)
        if principal is None:
            raise Problem(401, "unknown or revoked API key", field="authorization")
        return principal
    if not session_token(request):
        raise Problem(
            401, "missing API key: send 'Authorization: Bearer <key>'", field="authorization"
        )
    method = request.scope.get("method", "GET")
    if method not in _SAFE_METHODS and not request.headers.get(CSRF_HEADER):
        raise Problem(
            403,
            "cookie-authenticated requests that change state need the header 'X-Margin-CSRF: 1'",
            field="x-margin-csrf",
        )
    principal = session_from_request(request)
    if principal is None:
        raise Problem(401, "the session expired or was signed out: sign in again", field="cookie")
    return principal


def key_principal(state: AppState, secret: str) -> Principal | None:
    """The principal of an API key. In queue mode ingest must go on while the database is
    away (a failover, a restart): a key this process saw valid in the last
    ``KEY_GRACE_SECONDS`` is then trusted; whenever the database answers, it decides."""
    digest = hash_key(secret)
    try:
        with state.db.read() as conn:
            principal = authenticate(conn, secret)
    except SQLAlchemyError:
        seen = state.known_keys.get(digest)
        if state.queue is None or seen is None or state.clock() - seen[1] > KEY_GRACE_MICROS:
            raise
        return seen[0]
    if state.queue is not None:
        if principal is None:
            state.known_keys.pop(digest, None)
        elif len(state.known_keys) < 10_000 or digest in state.known_keys:
            state.known_keys[digest] = (principal, state.clock())
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
