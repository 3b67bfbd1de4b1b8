"""Dashboard sessions: opened by signing in with a read or admin key, held by the browser
as a random token in a cookie, stored server-side by the token's SHA-256.

A session ends at its expiry (absolute: set at sign-in, not renewed by use), when it is
signed out, or when the key it was opened with is revoked (``keys.revoke_key`` ends its sessions, and
a session is only honoured while its key is live). Times are passed in (``now``, in
µs) so that expiry is decided by the caller's clock.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Connection, delete, insert, select, update

from margin.store.keys import Principal
from margin.store.schema import api_keys, sessions

__all__ = [
    "TOKEN_PREFIX",
    "open_session",
    "revoke_session",
    "session_principal",
]

TOKEN_PREFIX = "mgs_"
#: Expired sessions are deleted this long after their expiry (kept a day for inspection).
_KEEP_EXPIRED_US = 24 * 3600 * 1_000_000


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(conn: Connection, principal: Principal, *, now: int, ttl_us: int) -> str:
    """Open a session for ``principal``; returns the token (to give the browser only)."""
    conn.execute(delete(sessions).where(sessions.c.expires_at < now - _KEEP_EXPIRED_US))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(sessions).values(
            token_hash=_hash(token),
            org_id=principal.org_id,
            key_id=principal.key_id,
            created_at=now,
            expires_at=now + ttl_us,
        )
    )
    return token


def session_principal(conn: Connection, token: str, *, now: int) -> Principal | None:
    """Who a live session acts as; None for an unknown, expired or signed-out session, or
    one whose key was revoked."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(
        select(api_keys.c.id, api_keys.c.org_id, api_keys.c.scope)
        .select_from(sessions.join(api_keys, api_keys.c.id == sessions.c.key_id))
        .where(
            sessions.c.token_hash == _hash(token),
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > now,
            api_keys.c.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    return Principal(org_id=row.org_id, scope=row.scope, key_id=row.id)


def revoke_session(conn: Connection, token: str, *, now: int) -> bool:
    """Sign a session out; False when it was not live."""
    result = conn.execute(
        update(sessions)
        .where(sessions.c.token_hash == _hash(token), sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1
