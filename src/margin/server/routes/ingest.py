"""``POST /v1/signals``, ``/v1/costs``, ``/v1/events``: one item, or a batch of them.

Each item is answered on its own (``ingested``, ``duplicate``, ``conflict`` or ``failed``
with the field and the reason): one bad item never fails its batch. The body's schema is
documented from the item models, but items are validated one by one by the ``Ledger`` (a
batch is not refused as a whole for one bad item), so FastAPI passes the parsed JSON on
unchecked (``SkipValidation``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import SkipValidation
from starlette.concurrency import run_in_threadpool

from margin._payload import PayloadError, parse_json
from margin.server._results import BatchAnswer, BatchResult, IngestProblem, SingleAnswer
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.items import CostBody, EventBody, SignalBody
from margin.server.ledger import Dedupe, Ledger
from margin.server.problems import Problem
from margin.server.responses import JSONResponse
from margin.server.state import AppState
from margin.store.keys import Principal

__all__ = ["batch_items", "router"]


class _FactRoute(ExactJsonRoute):
    """An item is kept as JSON with float numbers (its content digest is taken of them): a
    number no float holds refuses the body (400), as no item could store it."""

    decimals = False


router = APIRouter(prefix="/v1", tags=["ingest"], route_class=_FactRoute)

Ingest = Annotated[Principal, Depends(require("ingest"))]
DedupeParam = Annotated[
    Literal["content", "none"],
    Query(
        description=(
            "How items without an idempotency_key are told apart. `content` (default): by "
            "their content, forever: identical items are stored once (a retry is a "
            "duplicate). `none`: each such item is a new fact (a retried request stores it "
            "again: send keys to retry safely)."
        )
    ),
]
_PROBLEM = {"content": {"application/problem+json": {}}, "model": IngestProblem}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": BatchAnswer, "description": "A batch (or one item stored before)."},
    201: {"model": SingleAnswer, "description": "One item, stored now."},
    202: {"model": SingleAnswer, "description": "One item, accepted by the queue (queue mode)."},
    409: {**_PROBLEM, "description": "The idempotency key was used with other content."},
    422: {**_PROBLEM, "description": "No item could be stored (each one's reason listed)."},
    413: {"description": "Too many items, or the body is too large."},
}


def batch_items(body: Any, max_items: int) -> tuple[list[Any], bool]:
    """The items of an ingest body and whether it was a single item (not a batch)."""
    if isinstance(body, bytes):  # sent without a JSON content type: FastAPI left it
        if not body:
            raise Problem(400, "request body is empty", field="body")
        try:
            body = parse_json(body)
        except PayloadError as exc:
            raise Problem(400, exc.detail, field=exc.field) from None
    if isinstance(body, dict) and "items" in body:
        items = body["items"]
        if not isinstance(items, list):
            raise Problem(422, "items must be an array", field="items")
        if len(body) > 1:
            extra = sorted(k for k in body if k != "items")[0]
            raise Problem(422, f"unexpected field '{extra}' beside items", field=extra)
        if not items:
            raise Problem(422, "items must not be empty", field="items")
        if len(items) > max_items:
            raise Problem(413, f"a batch holds at most {max_items} items", field="items")
        return items, False
    if isinstance(body, dict):
        return [body], True
    raise Problem(422, 'body must be a JSON object (one item, or {"items": [...]})', field="body")


def _answer(result: BatchResult, single: bool) -> JSONResponse:
    failed = result.failed
    if len(failed) == len(result.items):
        first = failed[0]
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
        status = {"ingested": 201, "accepted": 202}.get(item.status, 200)
    return JSONResponse(body, status_code=status)


async def _ingest(
    request: Request, body: Any, work: Callable[[Ledger, list[Any]], BatchResult]
) -> JSONResponse:
    state = AppState.of(request)
    items, single = batch_items(body, state.settings.max_batch_items)
    ledger = state.ledger()
    # The store is synchronous; keep the event loop free while it works.
    result: BatchResult = await run_in_threadpool(work, ledger, items)
    return _answer(result, single)


@router.post(
    "/signals",
    summary="Record signals (business outcomes)",
    response_model=BatchAnswer,
    responses=_RESPONSES,
)
async def post_signals(
    request: Request,
    principal: Ingest,
    body: Annotated[SignalBody, SkipValidation, Body()],
    dedupe: DedupeParam = "content",
) -> JSONResponse:
    mode: Dedupe = dedupe
    return await _ingest(
        request,
        body,
        lambda ledger, items: ledger.ingest_signals(principal.org_id, items, dedupe=mode),
    )


@router.post(
    "/costs", summary="Record AI / provider costs", response_model=BatchAnswer, responses=_RESPONSES
)
async def post_costs(
    request: Request,
    principal: Ingest,
    body: Annotated[CostBody, SkipValidation, Body()],
    dedupe: DedupeParam = "content",
) -> JSONResponse:
    mode: Dedupe = dedupe
    return await _ingest(
        request,
        body,
        lambda ledger, items: ledger.ingest_costs(principal.org_id, items, dedupe=mode),
    )


@router.post(
    "/events",
    summary="Record generic metering events",
    response_model=BatchAnswer,
    responses=_RESPONSES,
)
async def post_events(
    request: Request,
    principal: Ingest,
    body: Annotated[EventBody, SkipValidation, Body()],
    dedupe: DedupeParam = "content",
) -> JSONResponse:
    mode: Dedupe = dedupe
    return await _ingest(
        request,
        body,
        lambda ledger, items: ledger.ingest_events(principal.org_id, items, dedupe=mode),
    )
