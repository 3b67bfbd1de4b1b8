"""Paygent (``paygent-sdk``): its absolute paths ``/api/v1/…`` and ``/api/v2/…`` at the root of
Margin's origin (the SDK joins them to its base URL, dropping any path), with its
``paygent-api-key`` header.

- ``/api/v2/usage``: a cost, priced from ``rawUsage`` by Margin's price book; with a
  non-empty ``indicator`` also a signal of that name, and the cost is attributed to it (the
  two share a trace). An empty indicator is cost only.
- ``/api/v2/revenue``: a signal only (revenue only).
- ``/api/v1/external-billing``: a Margin event of type ``externalCostId`` (its
  ``properties``); a Margin cost meter on that event type gives its cost.
- ``/api/v1/customers/create-or-get``: a Margin customer by ``externalId``.

The SDK sends no idempotency key and no timestamp, from 10 threads in any order: every
request is one new fact at its receive time (two identical usages are two costs), and a
usage or revenue for a customer (or agent) not created yet creates it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BeforeValidator, Field
from starlette.concurrency import run_in_threadpool

from margin._time import isoformat
from margin.compat._common import (
    CamelModel,
    Count,
    VendorRoute,
    in_thread,
    ledger,
    not_bool,
    principal,
)
from margin.compat._common import unsupported as _unsupported
from margin.server._results import BatchResult
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import CUSTOMERS
from margin.usage import canonical_provider

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["compat: Paygent"], route_class=VendorRoute)
_HEADERS = ("paygent-api-key",)
Ref = Annotated[str, Field(min_length=1, max_length=256)]
#: A duration (minutes or seconds): a non-negative JSON number, never a boolean.
Duration = Annotated[float, BeforeValidator(not_bool), Field(ge=0)]


class RawUsage(CamelModel):
    provider: Annotated[str, Field(min_length=1, max_length=64)]
    model: Annotated[str, Field(min_length=1, max_length=256)]
    plan: str | None = None
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cached_tokens: Count | None = None
    # Bounded so that a duration in seconds stays a finite, storable integer.
    audio_duration: Duration | None = Field(None, le=1e9, description="Minutes.")
    character_count: Count | None = None
    video_duration_sec: Duration | None = Field(None, le=6e10)
    video_resolution: str | None = None
    video_is_audio: bool | None = None
    usage_metadata: dict[str, Any] | None = None


class PaygentUsageIn(CamelModel):
    agent_id: Ref
    customer_id: Ref
    indicator: Annotated[str, Field(max_length=256)] | None = None
    raw_usage: RawUsage
    meta_tags: dict[str, str] | None = None


class PaygentRevenueIn(CamelModel):
    agent_id: Ref
    customer_id: Ref
    indicator: Annotated[str, Field(min_length=1, max_length=256)]
    meta_tags: dict[str, str] | None = None


class PaygentExternalCostIn(CamelModel):
    agent_id: Ref
    customer_id: Ref
    indicator: Annotated[str, Field(max_length=256)] | None = None
    name: Ref
    external_cost_id: Ref
    properties: dict[str, Any] = Field(default_factory=dict)
    meta_tags: dict[str, str] | None = None


class PaygentCustomerIn(CamelModel):
    external_id: Ref
    name: Annotated[str, Field(max_length=256)] | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    website: str | None = None
    phone: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    country: str | None = None


class Accepted(CamelModel):
    """What an ingest call answers (the SDK reads only the status)."""

    status: str
    ids: list[str]


class PaygentCustomerOut(CamelModel):
    id: str
    external_id: str
    name: str | None
    created_at: str


def _key() -> str:
    return f"paygent:{uuid.uuid4().hex}"


def _usage(raw: RawUsage) -> dict[str, Any]:
    """``rawUsage`` as span-attribute usage names: Margin's one normalizer reads them (input
    includes cached tokens, as Paygent sends them for OpenAI; audio minutes become seconds)."""
    usage: dict[str, Any] = {
        "gen_ai.usage.input_tokens": raw.input_tokens,
        "gen_ai.usage.output_tokens": raw.output_tokens,
        "gen_ai.usage.cached_input_tokens": raw.cached_tokens,
        "characters": raw.character_count,
    }
    if raw.audio_duration:
        usage["audio_seconds"] = round(raw.audio_duration * 60)
    return {k: v for k, v in usage.items() if v}


def _check(result: BatchResult, what: str) -> list[str]:
    failed = result.failed
    if failed:
        first = failed[0]
        raise Problem(422, f"{what}: {first.field}: {first.detail}", field=first.field)
    return [i.id for i in result.items if i.id]


def _answer(response: Response, ids: list[str], *results: BatchResult) -> Accepted:
    """``ingested`` (201) once stored; ``accepted`` (202, as Margin's own routes) when in
    queue mode the ingest queue has an item that a writer will store."""
    if any(r.accepted for r in results):
        response.status_code = 202
        return Accepted(status="accepted", ids=ids)
    return Accepted(status="ingested", ids=ids)


@router.post("/v2/usage", status_code=201, response_model=Accepted)
async def usage(body: PaygentUsageIn, request: Request, response: Response) -> Accepted:
    """A cost from tokens (cost only without an indicator; cost and outcome with one)."""
    who = principal(request, "ingest", _HEADERS)
    indicator = (body.indicator or "").strip()
    trace_id = uuid.uuid4().hex if indicator else None
    raw = body.raw_usage
    cost = {
        "customer": body.customer_id,
        "agent": body.agent_id,
        "provider": canonical_provider(raw.provider),
        "model": raw.model,
        "usage": _usage(raw) or None,
        "trace_id": trace_id,
        "idempotency_key": _key(),
    }
    if cost["usage"] is None:
        raise Problem(422, "rawUsage: no usage counts", field="rawUsage")
    signals = []
    if indicator:
        data = {"metaTags": body.meta_tags} if body.meta_tags else {}
        signals.append(
            {
                "event_name": indicator,
                "customer": body.customer_id,
                "agent": body.agent_id,
                "data": data,
                "trace_id": trace_id,
                "cost_tracing": True,
                "idempotency_key": _key(),
            }
        )
    book = ledger(request)
    signal_result, cost_result = await _export(book, who.org_id, signals, [cost])
    ids = _check(signal_result, "indicator") + _check(cost_result, "rawUsage")
    return _answer(response, ids, signal_result, cost_result)


async def _export(
    book: Any, org_id: str, signals: list[dict[str, Any]], costs: list[dict[str, Any]]
) -> tuple[BatchResult, BatchResult]:
    result: tuple[BatchResult, BatchResult] = await run_in_threadpool(
        book.ingest_export, org_id, signals, costs, "paygent"
    )
    return result


@router.post("/v2/revenue", status_code=201, response_model=Accepted)
async def revenue(body: PaygentRevenueIn, request: Request, response: Response) -> Accepted:
    """An outcome without usage (revenue only)."""
    who = principal(request, "ingest", _HEADERS)
    item = {
        "event_name": body.indicator,
        "customer": body.customer_id,
        "agent": body.agent_id,
        "data": {"metaTags": body.meta_tags} if body.meta_tags else {},
        "idempotency_key": _key(),
    }
    book = ledger(request)
    result = await in_thread(lambda: book.ingest_signals(who.org_id, [item], "paygent"))
    return _answer(response, _check(result, "indicator"), result)


@router.post("/v1/external-billing", status_code=201, response_model=Accepted)
async def external_cost(
    body: PaygentExternalCostIn, request: Request, response: Response
) -> Accepted:
    """An external cost: a Margin event of type ``externalCostId`` (priced by a cost meter)."""
    who = principal(request, "ingest", _HEADERS)
    data = {
        **body.properties,
        "name": body.name,
        "agentId": body.agent_id,
        "indicator": body.indicator or "",
        **({"metaTags": body.meta_tags} if body.meta_tags else {}),
    }
    item = {
        "type": body.external_cost_id,
        "customer": body.customer_id,
        "data": data,
        "idempotency_key": _key(),
    }
    book = ledger(request)
    result = await in_thread(lambda: book.ingest_events(who.org_id, [item], "paygent"))
    return _answer(response, _check(result, "externalCostId"), result)


@router.post("/v1/customers/create-or-get", response_model=PaygentCustomerOut)
def create_or_get(body: PaygentCustomerIn, request: Request) -> PaygentCustomerOut:
    """The customer of ``externalId``, created if new (its name defaults to the id)."""
    who = principal(request, "ingest", _HEADERS)
    address = body.model_dump(
        by_alias=True,
        exclude_none=True,
        include={
            "website",
            "phone",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "zip_code",
            "country",
        },
    )
    with AppState.of(request).db.write() as conn:
        row = CUSTOMERS.get_by_external(conn, who.org_id, body.external_id)
        if row is None:
            values = {
                "external_id": body.external_id,
                "name": body.name,
                "email": body.email,
                "metadata": {"_paygent": address} if address else {},
            }
            row, _created = CUSTOMERS.upsert(conn, who.org_id, values)
    return PaygentCustomerOut(
        id=row["id"],
        external_id=row["external_id"],
        name=row["name"],
        created_at=isoformat(row["created_at"]),
    )


_unsupported(router, "", "Paygent")
