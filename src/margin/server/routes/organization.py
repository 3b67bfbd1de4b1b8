"""``/v1/organization``: the caller's organization settings (reporting currency, display
name, the seller's details printed on invoices)."""

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
from margin.store.keys import Principal
from margin.store.organization import (
    ADDRESS_LINES_MAX,
    EMAIL_MAX,
    LINE_MAX,
    NAME_MAX,
    TAX_ID_MAX,
    OrganizationSettings,
    SettingsError,
    get_settings,
    update_settings,
)

__all__ = ["OrganizationOut", "OrganizationPatch", "SellerOut", "SellerPatch", "router"]

router = APIRouter(prefix="/v1/organization", tags=["organization"], route_class=ExactJsonRoute)

Currency = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="An ISO 4217 code, e.g. EUR.", examples=["EUR"])
]


class SellerOut(BaseModel):
    legal_name: str | None = Field(description="The seller's legal name on invoices.")
    address: list[str] = Field(description="Address lines, in print order.")
    email: str | None
    tax_id: str | None = Field(description="VAT number or other tax id.")


class OrganizationOut(BaseModel):
    id: str
    display_name: str
    reporting_currency: str = Field(
        description="The currency reports convert cost, revenue and profit to."
    )
    seller: SellerOut
    created_at: str
    updated_at: str | None = Field(description="When a setting last changed; null: never.")


class SellerPatch(Storable):
    """Seller details to change; ``null`` clears one."""

    legal_name: Annotated[str, Field(max_length=NAME_MAX)] | None = None
    address: (
        Annotated[
            list[Annotated[str, Field(max_length=LINE_MAX)]], Field(max_length=ADDRESS_LINES_MAX)
        ]
        | None
    ) = None
    email: Annotated[str, Field(max_length=EMAIL_MAX)] | None = None
    tax_id: Annotated[str, Field(max_length=TAX_ID_MAX)] | None = None


class OrganizationPatch(Storable):
    """Settings to change; absent fields stay as they are. ``seller: null`` clears every
    seller detail."""

    display_name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)] | None = None
    reporting_currency: Currency | None = None
    seller: SellerPatch | None = None


def render_organization(found: OrganizationSettings) -> OrganizationOut:
    seller = found.seller
    return OrganizationOut(
        id=found.org_id,
        display_name=found.display_name,
        reporting_currency=found.reporting_currency,
        seller=SellerOut(
            legal_name=seller.legal_name,
            address=list(seller.address),
            email=seller.email,
            tax_id=seller.tax_id,
        ),
        created_at=isoformat(found.created_at),
        updated_at=isoformat(found.updated_at) if found.updated_at is not None else None,
    )


def _changes(body: OrganizationPatch) -> dict[str, Any]:
    given = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in given.items() if k != "seller"}
    if "seller" in given:
        seller = given["seller"]
        names = ("legal_name", "address", "email", "tax_id")
        for name in names if seller is None else seller:
            changes[f"seller_{name}"] = None if seller is None else seller[name]
    return changes


@router.get("", summary="The organization's settings")
def get(
    request: Request, principal: Annotated[Principal, Depends(require("read"))]
) -> OrganizationOut:
    with AppState.of(request).db.read() as conn:
        found = get_settings(conn, principal.org_id)
    if found is None:
        raise Problem(404, "no such organization", field="authorization")
    return render_organization(found)


@router.patch("", summary="Change the organization's settings")
def patch(
    body: OrganizationPatch,
    request: Request,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> OrganizationOut:
    try:
        with AppState.of(request).db.write() as conn:
            found = update_settings(conn, principal.org_id, _changes(body))
    except SettingsError as exc:
        raise Problem(422, str(exc), field=exc.field) from None
    if found is None:
        raise Problem(404, "no such organization", field="authorization")
    return render_organization(found)
