"""``POST /v1/signals``, ``/v1/costs``, ``/v1/events``: one item, or a batch of them."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request

from margin.server.auth import require
from margin.server.ledger import BatchResult, Ledger
from margin.server.problems import Problem
from margin.server.responses import JSONResponse
from margin.server.state import AppState
from margin.store.keys import Principal

__all__ = ["read_items", "router"]

router = APIRouter(prefix="/v1", tags=["ingest"])


async def read_items(request: Request) -> tuple[list[Any], bool]:
    """The items of an ingest body and whether it was a single item (not a batch)."""
    raw = await request.body()
    if not raw:
        raise Problem(400, "request body is empty", field="body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"body is not valid JSON: {exc}", field="body") from None
    if isinstance(body, dict) and "items" in body:
        items = body["items"]
        if not isinstance(items, list):
            raise Problem(422, "items must be an array", field="items")
        if len(body) > 1:
            extra = sorted(k for k in body if k != "items")[0]
            raise Problem(422, f"unexpected field '{extra}' beside items", field=extra)
        if not items:
            raise Problem(422, "items must not be empty", field="items")
        limit = AppState.of(request).settings.max_batch_items
        if len(items) > limit:
            raise Problem(413, f"a batch holds at most {limit} items", field="items")
        return items, False
    if isinstance(body, dict):
        return [body], True
    raise Problem(422, 'body must be a JSON object (one item, or {"items": [...]})', field="body")


def _answer(result: BatchResult, single: bool) -> JSONResponse:
    if result.ingested == 0 and result.duplicates == 0:
        first = result.failed[0]
        status = 409 if first.status == "conflict" else 422
        field = first.field if single else f"items.{first.index}.{first.field}"
        body = {
            "type": "about:blank",
            "title": "Conflict" if status == 409 else "Invalid request",
            "status": status,
            "detail": f"{field}: {first.detail}",
            "field": field,
            **result.body(),
        }
        return JSONResponse(body, status_code=status, media_type="application/problem+json")
    body = result.body()
    status = 200
    if single:
        item = result.items[0]
        body["id"] = item.id
        body["status"] = item.status
        status = 201 if item.status == "ingested" else 200
    return JSONResponse(body, status_code=status)


def _ledger(request: Request) -> Ledger:
    state = AppState.of(request)
    return Ledger(state.db, state.pricer, state.settings)


@router.post("/signals", summary="Record signals (business outcomes)")
async def post_signals(
    request: Request, principal: Annotated[Principal, Depends(require("ingest"))]
) -> JSONResponse:
    items, single = await read_items(request)
    result = await _run(request, lambda: _ledger(request).ingest_signals(principal.org_id, items))
    return _answer(result, single)


@router.post("/costs", summary="Record AI / provider costs")
async def post_costs(
    request: Request, principal: Annotated[Principal, Depends(require("ingest"))]
) -> JSONResponse:
    items, single = await read_items(request)
    result = await _run(request, lambda: _ledger(request).ingest_costs(principal.org_id, items))
    return _answer(result, single)


@router.post("/events", summary="Record generic metering events")
async def post_events(
    request: Request, principal: Annotated[Principal, Depends(require("ingest"))]
) -> JSONResponse:
    items, single = await read_items(request)
    result = await _run(request, lambda: _ledger(request).ingest_events(principal.org_id, items))
    return _answer(result, single)


async def _run(request: Request, work: Any) -> BatchResult:
    # The store is synchronous; keep the event loop free while it works.
    from starlette.concurrency import run_in_threadpool

    result: BatchResult = await run_in_threadpool(work)
    return result
