"""``GET /v1/health`` (the store, and in queue mode the writers' lag) and
``GET /v1/queue/dead-letters`` (what the writers could not store, with the reason)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from margin._version import __version__
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import Principal

__all__ = ["router"]

if TYPE_CHECKING:
    from margin.queue.edge import Publisher

router = APIRouter(tags=["operations"], route_class=ExactJsonRoute)


class QueueHealth(BaseModel):
    """The writers' lag, or why JetStream could not be asked."""

    status: str | None = Field(None, description="`unreachable` when JetStream does not answer.")
    reason: str | None = Field(None, description="The failure's type, when unreachable.")
    messages: int | None = Field(None, description="Messages the writers have not stored yet.")
    seconds: float | None = Field(None, description="The age of the oldest of them.")
    dead_letters: int | None = Field(None, description="Messages kept as dead letters.")


class Health(BaseModel):
    status: str = Field(description="Always `ok`: the process answers.")
    version: str
    mode: Literal["direct", "queue"]
    store: Literal["ok", "unreachable"]
    queue: QueueHealth | None = Field(None, description="In queue mode only.")


class DeadLetterOut(BaseModel):
    seq: int = Field(description="The dead letter's sequence in its JetStream stream.")
    time: str
    op: str = Field(description="The ingest operation (signals, costs, events, traces…).")
    reason: str
    body: str = Field(description="The item or message as it was received.")


class DeadLetters(BaseModel):
    items: list[DeadLetterOut]


def _edge(state: AppState) -> Publisher:
    """The queue's own publisher (the server knows it only by its protocol); imported for
    types only: nats-py is needed in queue mode alone."""
    return cast("Publisher", state.queue)


def _store_answers(state: AppState) -> bool:
    try:
        with state.db.read() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


@router.get(
    "/v1/health",
    summary="Whether the store answers, and the ingest queue's lag",
    response_model=Health,
    response_model_exclude_none=True,
)
async def health(request: Request) -> dict[str, Any]:
    """``store``: ``ok`` or ``unreachable``. In queue mode, ``queue`` holds the messages the
    writers have not stored yet, the age of the oldest in seconds and the dead letters
    (``unreachable`` when JetStream does not answer). No key needed: counts only."""
    state = AppState.of(request)
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "mode": "queue" if state.queue is not None else "direct",
        "store": "ok" if await run_in_threadpool(_store_answers, state) else "unreachable",
    }
    if state.queue is not None:
        try:
            # A probe must answer promptly: a JetStream away is reported after a second.
            body["queue"] = (await _edge(state).stream.lag(deadline=1.0)).body()
        except Exception as exc:  # any failure of the queue is reported, never a 500
            body["queue"] = {"status": "unreachable", "reason": type(exc).__name__}
    return body


@router.get(
    "/v1/queue/dead-letters",
    summary="Items and messages the writers could not store",
    response_model=DeadLetters,
)
async def dead_letters(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """This organization's dead letters, oldest first: the operation, the reason and the
    payload (an item refused at write time, or a message that failed every delivery)."""
    state = AppState.of(request)
    if state.queue is None:
        raise Problem(404, "the server is not in queue mode (MARGIN_QUEUE_URL)", field="path")
    found = await _edge(state).stream.dead_letters(principal.org_id, limit)
    return {
        "items": [
            {"seq": d.seq, "time": d.time, "op": d.op, "reason": d.reason, "body": d.body}
            for d in found
        ]
    }
