"""One router factory for the two party resources, customers and agents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from margin._currency import CurrencyCode
from margin._storable import Storable
from margin._time import isoformat
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import Directory
from margin.store.keys import Principal

__all__ = ["PartyCreate", "PartyUpdate", "party_router", "render_party"]

TrackingMode = Literal["auto", "full", "cost_only", "revenue_only"]
ExternalId = Annotated[str, Field(min_length=1, max_length=256)]
Currency = CurrencyCode


class PartyCreate(Storable):
    external_id: ExternalId
    name: Annotated[str, Field(max_length=256)] | None = None
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None
    currency: Currency | None = None
    tracking_mode: TrackingMode | None = None
    metadata: dict[str, Any] | None = None


class PartyUpdate(Storable):
    name: Annotated[str, Field(max_length=256)] | None = None
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None
    currency: Currency | None = None
    tracking_mode: TrackingMode | None = None
    metadata: dict[str, Any] | None = None


class PartyView(BaseModel):
    """A customer (with ``currency``) or an agent (with ``description``)."""

    id: str
    external_id: str
    name: str | None = None
    email: str | None = None
    description: str | None = None
    currency: str | None = None
    tracking_mode: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    archived_at: str | None = None


class PartyPage(BaseModel):
    data: list[PartyView]
    next_cursor: str | None


def render_party(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "org_id"}
    for key in ("created_at", "updated_at", "archived_at"):
        if out.get(key) is not None:
            out[key] = isoformat(out[key])
    return out


def _reject_foreign_fields(directory: Directory, body: BaseModel) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    for name in values:
        if name not in directory.fields:
            raise Problem(422, f"{directory.kind}s have no field '{name}'", field=name)
    return values


_ONE: dict[str, Any] = {"response_model": PartyView, "response_model_exclude_unset": True}


def party_router(directory: Directory, path: str) -> APIRouter:
    """CRUD routes for one party kind under ``path`` (e.g. ``/v1/customers``)."""
    router = APIRouter(prefix=path, tags=[f"{directory.kind}s"], route_class=ExactJsonRoute)
    kind = directory.kind

    def found(row: dict[str, Any] | None, ref: str) -> dict[str, Any]:
        if row is None:
            raise Problem(404, f"no {kind} '{ref}'", field="id")
        return render_party(row)

    @router.post(
        "",
        status_code=201,
        summary=f"Create a {kind} (upsert by external_id)",
        responses={200: {"model": PartyView, "description": f"The {kind} existed: updated."}},
        **_ONE,
    )
    def create(
        body: PartyCreate,
        request: Request,
        response: Response,
        principal: Annotated[Principal, Depends(require("admin"))],
    ) -> dict[str, Any]:
        values = _reject_foreign_fields(directory, body)
        state = AppState.of(request)
        with state.db.write() as conn:
            row, created = directory.upsert(conn, principal.org_id, values)
        if not created:
            response.status_code = 200
        return render_party(row)

    @router.get(
        "", summary=f"List {kind}s", response_model=PartyPage, response_model_exclude_unset=True
    )
    def list_(
        request: Request,
        principal: Annotated[Principal, Depends(require("read"))],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        external_id: str | None = None,
        tracking_mode: TrackingMode | None = None,
        include_archived: bool = False,
    ) -> dict[str, Any]:
        with AppState.of(request).db.read() as conn:
            rows = directory.page(
                conn,
                principal.org_id,
                limit=limit + 1,
                cursor=cursor,
                external_id=external_id,
                tracking_mode=tracking_mode,
                include_archived=include_archived,
            )
        page = rows[:limit]
        next_cursor = page[-1]["id"] if len(rows) > limit else None
        return {"data": [render_party(r) for r in page], "next_cursor": next_cursor}

    @router.get("/external/{external_id}", summary=f"Get a {kind} by external id", **_ONE)
    def get_external(
        external_id: str,
        request: Request,
        principal: Annotated[Principal, Depends(require("read"))],
    ) -> dict[str, Any]:
        with AppState.of(request).db.read() as conn:
            return found(
                directory.get_by_external(conn, principal.org_id, external_id), external_id
            )

    @router.get("/{party_id}", summary=f"Get a {kind}", **_ONE)
    def get(
        party_id: str, request: Request, principal: Annotated[Principal, Depends(require("read"))]
    ) -> dict[str, Any]:
        with AppState.of(request).db.read() as conn:
            return found(directory.get(conn, principal.org_id, party_id), party_id)

    @router.patch("/{party_id}", summary=f"Update a {kind}", **_ONE)
    def patch(
        party_id: str,
        body: PartyUpdate,
        request: Request,
        principal: Annotated[Principal, Depends(require("admin"))],
    ) -> dict[str, Any]:
        values = _reject_foreign_fields(directory, body)
        with AppState.of(request).db.write() as conn:
            if directory.get(conn, principal.org_id, party_id) is None:
                raise Problem(404, f"no {kind} '{party_id}'", field="id")
            return found(directory.update(conn, principal.org_id, party_id, values), party_id)

    @router.delete("/{party_id}", summary=f"Archive a {kind}", **_ONE)
    def archive(
        party_id: str, request: Request, principal: Annotated[Principal, Depends(require("admin"))]
    ) -> dict[str, Any]:
        with AppState.of(request).db.write() as conn:
            return found(directory.archive(conn, principal.org_id, party_id), party_id)

    return router
