"""``/v1/organization/attribution``: which span, resource or baggage attributes name the
customer and the agent of the organization's OTLP traces (``margin.store.party_mapping``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from margin._storable import Storable
from margin._time import isoformat
from margin.semconv import AGENT_KEYS, CUSTOMER_KEYS, IDENTITY_KEYS
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import Principal
from margin.store.party_mapping import (
    KEY_MAX,
    KEYS_MAX,
    MappingError,
    PartyMapping,
    get_mapping,
    set_mapping,
)

__all__ = ["AttributionOut", "AttributionPatch", "render_mapping", "router"]

router = APIRouter(
    prefix="/v1/organization/attribution", tags=["organization"], route_class=ExactJsonRoute
)

Keys = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=KEY_MAX)]], Field(max_length=KEYS_MAX)
]


class AttributionOut(BaseModel):
    customer_keys: list[str] = Field(
        description="Attributes naming the customer, best first, read after Margin's own "
        f"({', '.join(CUSTOMER_KEYS)}), e.g. {', '.join(IDENTITY_KEYS)}."
    )
    agent_keys: list[str] = Field(
        description="Attributes naming the agent, best first, read after Margin's own "
        f"({', '.join(AGENT_KEYS)}); default service.name."
    )
    builtin_customer_keys: list[str] = Field(description="Always read first.")
    builtin_agent_keys: list[str] = Field(description="Always read first.")
    updated_at: str | None = Field(description="When it last changed; null: the defaults.")


class AttributionPatch(Storable):
    """Key lists to replace; an absent list stays as it is, ``[]`` maps nothing."""

    customer_keys: Keys | None = None
    agent_keys: Keys | None = None


def render_mapping(mapping: PartyMapping) -> AttributionOut:
    return AttributionOut(
        customer_keys=list(mapping.customer_keys),
        agent_keys=list(mapping.agent_keys),
        builtin_customer_keys=list(CUSTOMER_KEYS),
        builtin_agent_keys=list(AGENT_KEYS),
        updated_at=None if mapping.updated_at is None else isoformat(mapping.updated_at),
    )


@router.get("", summary="Which attributes name a trace's customer and agent")
def get(
    request: Request, principal: Annotated[Principal, Depends(require("read"))]
) -> AttributionOut:
    with AppState.of(request).db.read() as conn:
        return render_mapping(get_mapping(conn, principal.org_id))


@router.patch("", summary="Map span, resource or baggage attributes to customers and agents")
def patch(
    body: AttributionPatch,
    request: Request,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> AttributionOut:
    try:
        with AppState.of(request).db.write() as conn:
            found = set_mapping(conn, principal.org_id, body.customer_keys, body.agent_keys)
    except MappingError as exc:
        raise Problem(422, exc.detail, field=exc.field) from None
    return render_mapping(found)
