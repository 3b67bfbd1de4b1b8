"""REST resources of who pays and what is sold: customers and agents (created by external
id, upserted; archived, never deleted)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from margin.sdk._operations import Operation, Resource, clean, flag, operation

__all__ = ["Agents", "Customers", "TrackingMode"]

_R = TypeVar("_R")
_B = TypeVar("_B")
TrackingMode = Literal["auto", "full", "cost_only", "revenue_only"]


class _Parties(Resource[_R, _B]):
    _create: Operation
    _list: Operation
    _external: Operation
    _get: Operation
    _patch: Operation
    _archive: Operation

    def get(self, id: str) -> _R:
        """Fetch one object by its Margin id."""
        return self._json(self._get.call({"party_id": id}))

    def get_by_external_id(self, external_id: str) -> _R:
        """Fetch one object by your own external id."""
        return self._json(self._external.call({"external_id": external_id}))

    def list(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        external_id: str | None = None,
        tracking_mode: TrackingMode | None = None,
        include_archived: bool | None = None,
    ) -> _R:
        """One page: ``{"data": [...], "next_cursor": str | None}``."""
        params = {
            "limit": limit,
            "cursor": cursor,
            "external_id": external_id,
            "tracking_mode": tracking_mode,
            "include_archived": flag(include_archived),
        }
        return self._json(self._list.call(params=params))

    def update(self, id: str, **fields: Any) -> _R:
        """Change the given fields (PATCH): ``name``, ``email``, ``description``,
        ``currency``, ``tracking_mode``, ``metadata``."""
        return self._json(self._patch.call({"party_id": id}, json=fields))

    def archive(self, id: str) -> _R:
        """Archive the object; it is returned with ``archived_at`` set."""
        return self._json(self._archive.call({"party_id": id}))


class Customers(_Parties[_R, _B]):
    """``/v1/customers``: who pays."""

    _create = operation("POST", "/v1/customers")
    _list = operation("GET", "/v1/customers")
    _external = operation("GET", "/v1/customers/external/{external_id}")
    _get = operation("GET", "/v1/customers/{party_id}")
    _patch = operation("PATCH", "/v1/customers/{party_id}")
    _archive = operation("DELETE", "/v1/customers/{party_id}")

    def create(
        self,
        external_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        currency: str | None = None,
        tracking_mode: TrackingMode | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> _R:
        """Create the customer, or return the existing one with this external id (upsert)."""
        body = clean(
            {
                "external_id": external_id,
                "name": name,
                "email": email,
                "currency": currency,
                "tracking_mode": tracking_mode,
                "metadata": metadata,
            }
        )
        return self._json(self._create.call(json=body))


class Agents(_Parties[_R, _B]):
    """``/v1/agents``: what is sold."""

    _create = operation("POST", "/v1/agents")
    _list = operation("GET", "/v1/agents")
    _external = operation("GET", "/v1/agents/external/{external_id}")
    _get = operation("GET", "/v1/agents/{party_id}")
    _patch = operation("PATCH", "/v1/agents/{party_id}")
    _archive = operation("DELETE", "/v1/agents/{party_id}")

    def create(
        self,
        external_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        tracking_mode: TrackingMode | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> _R:
        """Create the agent, or return the existing one with this external id (upsert)."""
        body = clean(
            {
                "external_id": external_id,
                "name": name,
                "description": description,
                "tracking_mode": tracking_mode,
                "metadata": metadata,
            }
        )
        return self._json(self._create.call(json=body))
