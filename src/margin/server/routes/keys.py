"""``/v1/keys``: list, create and revoke the organization's API keys (admin only), so that
the dashboard manages keys through the same API as any client. A secret is returned once,
by the create call; lists show its prefix only. The services are in ``margin.store.keys``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from margin._storable import Storable
from margin._time import isoformat
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import ApiKey, Principal, Scope, create_key, list_keys, revoke_key

__all__ = ["router"]

router = APIRouter(prefix="/v1/keys", tags=["keys"], route_class=ExactJsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]


class KeyIn(Storable):
    scope: Scope
    name: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] = ""


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The secret's first characters, to recognize it.")
    scope: str
    created_at: str
    revoked_at: str | None
    current: bool = Field(description="Whether this request was made with this key.")


class KeyCreated(KeyOut):
    secret: str = Field(description="The key itself: shown this once, stored only hashed.")


class KeyList(BaseModel):
    data: list[KeyOut]


def _render(key: ApiKey, principal: Principal) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scope": key.scope,
        "created_at": isoformat(key.created_at),
        "revoked_at": None if key.revoked_at is None else isoformat(key.revoked_at),
        "current": key.id == principal.key_id,
    }


@router.get("", response_model=KeyList, summary="List API keys (never their secrets)")
def list_(request: Request, principal: Admin) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        keys = list_keys(conn, principal.org_id)
    return {"data": [_render(k, principal) for k in keys]}


@router.post("", status_code=201, response_model=KeyCreated, summary="Create an API key")
def create(body: KeyIn, request: Request, principal: Admin) -> dict[str, Any]:
    """The answer holds the secret; it cannot be read again."""
    with AppState.of(request).db.write() as conn:
        key, secret = create_key(conn, principal.org_id, body.scope, body.name.strip())
    return {**_render(key, principal), "secret": secret}


@router.post("/{key_id}/revoke", response_model=KeyOut, summary="Revoke an API key")
def revoke(key_id: str, request: Request, principal: Admin) -> dict[str, Any]:
    """Irreversible: the key stops working at once and its dashboard sessions end."""
    with AppState.of(request).db.write() as conn:
        mine = {k.id: k for k in list_keys(conn, principal.org_id)}
        if key_id not in mine:
            raise Problem(404, f"no key '{key_id}'", field="key_id")
        if not revoke_key(conn, key_id):
            raise Problem(409, f"key '{key_id}' is already revoked", field="key_id")
        key = {k.id: k for k in list_keys(conn, principal.org_id)}[key_id]
    return _render(key, principal)
