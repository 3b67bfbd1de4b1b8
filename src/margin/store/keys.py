"""Organizations and API keys. Keys are shown once and stored as SHA-256 hashes: they are
256-bit random secrets, so a fast hash is enough (no password stretching is needed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, insert, select, update

from margin._ids import new_id
from margin._time import now_micros
from margin.store.schema import api_keys, organizations, sessions

__all__ = [
    "SCOPES",
    "ApiKey",
    "Organization",
    "Principal",
    "Scope",
    "authenticate",
    "create_key",
    "create_org",
    "first_org",
    "get_org",
    "hash_key",
    "list_keys",
    "list_orgs",
    "revoke_key",
]

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organization and the scope of the key used."""

    org_id: str
    scope: Scope
    key_id: str

    def allows(self, needed: Scope) -> bool:
        """``admin`` may do everything; ``read`` reads; ``ingest`` only ingests."""
        return self.scope == "admin" or self.scope == needed


@dataclass(frozen=True)
class ApiKey:
    id: str
    org_id: str
    name: str
    prefix: str
    scope: Scope
    created_at: int
    revoked_at: int | None


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    created_at: int


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_org(conn: Connection, name: str, org_id: str | None = None) -> str:
    """Create an organization and return its id."""
    oid = org_id or new_id("org")
    conn.execute(insert(organizations).values(id=oid, name=name, created_at=now_micros()))
    return oid


def create_key(conn: Connection, org_id: str, scope: Scope, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; returns the stored record and the secret (shown to the user once)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    secret = f"mgn_{scope}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=new_id("key"),
        org_id=org_id,
        name=name or f"{scope} key",
        prefix=secret[:16],
        scope=scope,
        created_at=now_micros(),
        revoked_at=None,
    )
    conn.execute(
        insert(api_keys).values(
            id=key.id,
            org_id=org_id,
            name=key.name,
            prefix=key.prefix,
            key_hash=hash_key(secret),
            scope=scope,
            created_at=key.created_at,
        )
    )
    return key, secret


def authenticate(conn: Connection, secret: str) -> Principal | None:
    """The principal of a live key, or None for an unknown or revoked one."""
    row = conn.execute(
        select(api_keys.c.id, api_keys.c.org_id, api_keys.c.scope).where(
            api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return Principal(org_id=row.org_id, scope=row.scope, key_id=row.id)


def list_keys(conn: Connection, org_id: str | None = None) -> list[ApiKey]:
    query = select(api_keys).order_by(api_keys.c.created_at)
    if org_id is not None:
        query = query.where(api_keys.c.org_id == org_id)
    return [
        ApiKey(
            id=r.id,
            org_id=r.org_id,
            name=r.name,
            prefix=r.prefix,
            scope=r.scope,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )
        for r in conn.execute(query)
    ]


def revoke_key(conn: Connection, key_id: str) -> bool:
    """Revoke a key and end the dashboard sessions opened with it; False when there is no
    such live key."""
    now = now_micros()
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        update(sessions)
        .where(sessions.c.key_id == key_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def first_org(conn: Connection) -> str | None:
    """The oldest organization, if any (the bootstrap organization of a fresh install)."""
    return conn.execute(
        select(organizations.c.id).order_by(organizations.c.created_at).limit(1)
    ).scalar_one_or_none()


def get_org(conn: Connection, org_id: str) -> Organization | None:
    row = conn.execute(select(organizations).where(organizations.c.id == org_id)).first()
    return Organization(id=row.id, name=row.name, created_at=row.created_at) if row else None


def list_orgs(conn: Connection) -> list[Organization]:
    """Every organization, oldest first."""
    rows = conn.execute(select(organizations).order_by(organizations.c.created_at))
    return [Organization(id=r.id, name=r.name, created_at=r.created_at) for r in rows]
