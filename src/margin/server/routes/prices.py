"""``/v1/prices``: the catalog price of a model, tenant overrides, and quotes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from margin._money import format_decimal
from margin._storable import Storable
from margin._time import isoformat, now_micros
from margin.pricing import (
    CATALOG_VERSION,
    OverrideError,
    PriceOverride,
    PriceResult,
    covered_models,
    create_override,
    delete_override,
    get_override,
    list_overrides,
)
from margin.pricing.catalog import catalog_sheet
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.params import time_param
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import Principal
from margin.usage import USAGE_KEYS, canonical_provider

__all__ = ["render_quote", "router"]

router = APIRouter(prefix="/v1/prices", tags=["prices"], route_class=ExactJsonRoute)


class OverrideIn(Storable):
    amounts = frozenset({"prices"})  # each price read as sent, to the digit

    provider: str = Field(description="Provider id, or '*' for any provider.")
    model: str = Field(
        description="A model name, e.g. 'gpt-4o': covers the names the catalog resolves to "
        "the same model (its dated snapshots), not other models. A glob ('*', '?', '[') "
        "matches names as text: 'gpt-4o*' also matches 'gpt-4o-mini'."
    )
    prices: dict[str, Any] = Field(description="Usage kind → decimal price (per million tokens).")
    currency: str = "USD"
    effective_from: str | None = Field(None, description="RFC 3339; default now.")
    effective_to: str | None = None
    note: str | None = None


class QuoteIn(Storable):
    provider: str | None = None
    model: str
    usage: dict[str, Any]
    at: str | None = None
    price_context: dict[str, str] | None = None


class OverrideOut(BaseModel):
    """A tenant price override."""

    id: str
    provider: str
    model: str = Field(description="The model name or glob pattern it was set for.")
    prices: dict[str, str] = Field(description="Usage kind → decimal price.")
    currency: str
    effective_from: str
    effective_to: str | None
    note: str | None
    created_at: str


class CoveredModel(BaseModel):
    """A catalog model whose records an override prices."""

    provider: str
    model: str
    names: list[str] = Field(description="The exact names the catalog knows it by.")


class OverrideCreated(OverrideOut):
    covers: list[CoveredModel] = Field(description="The catalog models this override prices.")


class OverrideList(BaseModel):
    data: list[OverrideOut]


class Coverage(BaseModel):
    data: list[CoveredModel]


class QuoteOut(BaseModel):
    """The price of a usage block, and how it was found."""

    amount: str | None = Field(description="Decimal amount; null when unpriced.")
    currency: str
    priced_by: str = Field(description="'override', 'catalog' or 'unpriced'.")
    price_ref: str | None
    unpriced_reason: str | None
    usage: dict[str, int] = Field(description="The canonical usage that was priced.")


class CatalogTier(BaseModel):
    start: int
    price: str


class CatalogRate(BaseModel):
    kind: str
    price: str
    per: int
    tiers: list[CatalogTier]


class CatalogOut(BaseModel):
    catalog: str
    ref: str | None
    currency: str
    at: str
    prices: list[CatalogRate]
    overrides: list[OverrideOut] = Field(description="This organization's overrides for it.")


class Deleted(BaseModel):
    id: str
    deleted: bool


def _micros(text: str | None, field: str) -> int | None:
    return None if text is None else time_param(text, field)


def render_override(override: PriceOverride) -> OverrideOut:
    return OverrideOut(
        id=override.id,
        provider=override.provider,
        model=override.model_pattern,
        prices={k: format_decimal(v) for k, v in override.prices.items()},
        currency=override.currency,
        effective_from=isoformat(override.effective_from),
        effective_to=isoformat(override.effective_to) if override.effective_to else None,
        note=override.note,
        created_at=isoformat(override.created_at),
    )


def _covered(provider: str, model: str) -> list[CoveredModel]:
    return [
        CoveredModel(provider=m.provider, model=m.model, names=list(m.names))
        for m in covered_models(provider, model)
    ]


def render_quote(result: PriceResult) -> QuoteOut:
    return QuoteOut(
        amount=format_decimal(result.amount) if result.amount is not None else None,
        currency=result.currency,
        priced_by=result.priced_by,
        price_ref=result.price_ref,
        unpriced_reason=result.unpriced_reason,
        usage=result.usage,
    )


@router.get("", summary="List tenant price overrides")
def list_(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    provider: str | None = None,
    model: Annotated[
        str | None, Query(description="Only the overrides that price this model.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> OverrideList:
    db = AppState.of(request).db
    rows = list_overrides(db, principal.org_id, provider=provider, model=model)
    return OverrideList(data=[render_override(o) for o in rows[:limit]])


@router.get("/coverage", summary="The catalog models an override would price")
def coverage(
    principal: Annotated[Principal, Depends(require("read"))],
    model: Annotated[str, Query(description="A model name or glob pattern, as in an override.")],
    provider: Annotated[str, Query(description="Provider id, or '*'.")] = "*",
) -> Coverage:
    """What ``POST /v1/prices`` with this provider and model would price, before it is set."""
    provider_id = "*" if provider.strip() == "*" else canonical_provider(provider.strip()) or ""
    return Coverage(data=_covered(provider_id, model.strip()))


@router.post("", status_code=201, summary="Set a tenant price override")
def create(
    body: OverrideIn, request: Request, principal: Annotated[Principal, Depends(require("admin"))]
) -> OverrideCreated:
    state = AppState.of(request)
    try:
        override = create_override(
            state.db,
            principal.org_id,
            provider=body.provider,
            model=body.model,
            prices=body.prices,
            currency=body.currency,
            effective_from=_micros(body.effective_from, "effective_from"),
            effective_to=_micros(body.effective_to, "effective_to"),
            note=body.note,
        )
    except OverrideError as exc:
        raise Problem(422, str(exc), field=exc.field) from None
    state.pricer.invalidate(principal.org_id)
    return OverrideCreated(
        **render_override(override).model_dump(),
        covers=_covered(override.provider, override.model_pattern),
    )


def _usage_from_query(request: Request) -> dict[str, int]:
    usage: dict[str, int] = {}
    for key, value in request.query_params.items():
        if key not in USAGE_KEYS:
            continue
        if not value.isdigit():
            raise Problem(422, f"{key}: must be a non-negative whole number", field=key)
        usage[key] = int(value)
    return usage


@router.get("/quote", summary="Price a usage block without storing it")
def quote(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    model: str,
    provider: str | None = None,
    at: str | None = None,
    processing: str | None = Query(None, description="Price context, e.g. 'batch'."),
) -> QuoteOut:
    """Usage counts are query parameters named as in a cost's usage block
    (``input_tokens``, ``output_tokens``, ``cache_read_tokens``, …)."""
    state = AppState.of(request)
    at_us = _micros(at, "at") or now_micros()
    context = {"processing": processing} if processing else None
    usage = _usage_from_query(request)
    return render_quote(
        state.pricer.price(principal.org_id, provider, model, usage, at_us, context)
    )


@router.post("/quote", summary="Price a usage block (JSON) without storing it")
def quote_body(
    body: QuoteIn, request: Request, principal: Annotated[Principal, Depends(require("read"))]
) -> QuoteOut:
    state = AppState.of(request)
    at_us = _micros(body.at, "at") or now_micros()
    result = state.pricer.price(
        principal.org_id, body.provider, body.model, body.usage, at_us, body.price_context
    )
    return render_quote(result)


@router.get("/catalog", summary="The catalog price of a model")
def catalog(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    model: str,
    provider: str | None = None,
    at: str | None = None,
) -> CatalogOut:
    at_us = _micros(at, "at") or now_micros()
    sheet = catalog_sheet(provider, model, at_us, None)
    if sheet.reason is not None:
        raise Problem(404, sheet.reason, field="model")
    db = AppState.of(request).db
    overrides = list_overrides(db, principal.org_id, provider=provider, model=model, at_us=at_us)
    return CatalogOut(
        catalog=CATALOG_VERSION,
        ref=sheet.ref,
        currency=sheet.currency,
        at=isoformat(at_us),
        prices=[
            CatalogRate(
                kind=term.name,
                price=format_decimal(term.price),
                per=term.per,
                tiers=[CatalogTier(start=s, price=format_decimal(p)) for s, p in term.tiers],
            )
            for term in sheet.terms
        ],
        overrides=[render_override(o) for o in overrides],
    )


@router.get("/{override_id}", summary="Get a tenant price override")
def get(
    override_id: str, request: Request, principal: Annotated[Principal, Depends(require("read"))]
) -> OverrideOut:
    found = get_override(AppState.of(request).db, principal.org_id, override_id)
    if found is None:
        raise Problem(404, f"no price override '{override_id}'", field="id")
    return render_override(found)


@router.delete("/{override_id}", summary="Delete a tenant price override")
def delete(
    override_id: str, request: Request, principal: Annotated[Principal, Depends(require("admin"))]
) -> Deleted:
    state = AppState.of(request)
    if not delete_override(state.db, principal.org_id, override_id):
        raise Problem(404, f"no price override '{override_id}'", field="id")
    state.pricer.invalidate(principal.org_id)
    return Deleted(id=override_id, deleted=True)
