"""REST resource of API keys (admin keys only): list, create, revoke. A secret is returned
once, by ``create``; lists show a key's prefix only."""

from __future__ import annotations

from typing import Literal, TypeVar

from margin.sdk._operations import Resource, clean, operation

__all__ = ["Keys"]

_R = TypeVar("_R")
_B = TypeVar("_B")

_KEY_LIST = operation("GET", "/v1/keys")
_KEY_CREATE = operation("POST", "/v1/keys")
_KEY_REVOKE = operation("POST", "/v1/keys/{key_id}/revoke")


class Keys(Resource[_R, _B]):
    """``/v1/keys``: the organization's API keys."""

    def list(self) -> _R:
        """Every key (``{"data": [...]}``), never a secret; ``current`` marks the caller's."""
        return self._json(_KEY_LIST.call())

    def create(self, scope: Literal["ingest", "read", "admin"], *, name: str | None = None) -> _R:
        """A new key; the answer's ``secret`` is shown this once."""
        return self._json(_KEY_CREATE.call(json=clean({"scope": scope, "name": name})))

    def revoke(self, id: str) -> _R:
        """Revoke a key (irreversible): it stops working and its dashboard sessions end."""
        return self._json(_KEY_REVOKE.call({"key_id": id}))
