"""Paid's 0.x wire (paid-python 0.6.0, the SDK the seed documents were written against):
REST under ``/compat/paid/api/v1`` (customers, agents, ``usage/signals/bulk`` with snake_case
signals) and OTLP at ``/compat/paid/v1/traces``, where the key travels in the resource
attribute ``api.key`` instead of a header.

In a 0.x signal, ``customer_id`` and ``agent_id`` are external ids; ``internal_customer_id``
and ``product_id`` are Margin ids.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from margin._ids import new_id
from margin._storable import Storable
from margin.compat._common import VendorRoute, both_slashes, principal, unsupported
from margin.compat.paid.ingest import signal_item, store_signals, translate
from margin.compat.paid.models import BulkSignalsOut
from margin.server.limits import Busy
from margin.server.otlp import receive
from margin.server.otlp.decode import PROTOBUF, OtlpError, TooLarge, decode
from margin.server.problems import Problem, problem_response
from margin.server.routes.traces import RETRY_AFTER, export_slots
from margin.server.state import AppState
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.keys import authenticate

__all__ = ["router"]

router = APIRouter(prefix="/compat/paid", tags=["compat: Paid 0.x"], route_class=VendorRoute)
Ref = Annotated[str, Field(min_length=1, max_length=256)]


class _Snake(Storable):
    model_config = ConfigDict(extra="ignore")


class LegacySignal(_Snake):
    """A 0.x signal (``Signal`` and ``SignalV2`` fields)."""

    event_name: Annotated[str, Field(min_length=1, max_length=256)]
    customer_id: Ref | None = None
    external_customer_id: Ref | None = None
    internal_customer_id: Ref | None = None
    agent_id: Ref | None = None
    external_agent_id: Ref | None = None
    product_id: Ref | None = None
    external_product_id: Ref | None = None
    data: dict[str, Any] | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class LegacySignals(_Snake):
    signals: list[Any]

    # Each signal is validated on its own (a bad one fails alone).
    checked_apart = frozenset({"signals"})


class LegacyParty(_Snake):
    """``POST customers`` / ``POST agents`` (camelCase on the 0.x wire too)."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    externalId: Ref | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None


class LegacyPartyOut(BaseModel):
    id: str
    organizationId: str
    organization_id: str
    name: str
    externalId: str
    description: str | None = None
    active: bool = True


def _signal(raw: Any) -> dict[str, Any]:
    """A 0.x signal as a v2 one, then as Margin's item (the v2 translation)."""
    old = LegacySignal.model_validate(raw)
    customer: dict[str, str] = {}
    if old.internal_customer_id:
        customer["customerId"] = old.internal_customer_id
    elif old.external_customer_id or old.customer_id:
        customer["externalCustomerId"] = old.external_customer_id or old.customer_id or ""
    product: dict[str, str] | None = None
    if old.product_id:
        product = {"productId": old.product_id}
    elif old.external_product_id or old.external_agent_id or old.agent_id:
        ref = old.external_product_id or old.external_agent_id or old.agent_id or ""
        product = {"externalProductId": ref}
    body: dict[str, Any] = {"eventName": old.event_name, "customer": customer}
    if product is not None:
        body["attribution"] = product
    if old.data is not None:
        body["data"] = old.data
    if old.idempotency_key:
        body["idempotencyKey"] = old.idempotency_key
    return signal_item(body)


async def _record(request: Request, body: LegacySignals) -> BulkSignalsOut:
    who = principal(request, "ingest")
    items, where, errors = translate(body.signals, _signal)
    result = await store_signals(request, who.org_id, items) if items else None
    if result is not None:
        errors += [
            {"index": where[r.index], "field": r.field, "detail": r.detail} for r in result.failed
        ]
    return BulkSignalsOut(
        accepted=result.accepted if result else 0,
        ingested=result.ingested if result else 0,
        duplicates=result.duplicates if result else 0,
        failed=len(errors),
        errors=sorted(errors, key=lambda e: e["index"]),
    )


@both_slashes(router, "POST", "/api/v1/usage/signals/bulk", response_model=BulkSignalsOut)
async def record_bulk(body: LegacySignals, request: Request) -> BulkSignalsOut:
    """``client.usage.record_bulk(signals=[…])`` of the 0.x SDK."""
    return await _record(request, body)


@both_slashes(router, "POST", "/api/v1/usage/v2/signals/bulk", response_model=BulkSignalsOut)
async def record_bulk_v2(body: LegacySignals, request: Request) -> BulkSignalsOut:
    """``client.usage.usage_record_bulk_v_2(signals=[…])`` of the 0.x SDK."""
    return await _record(request, body)


def _party(row: dict[str, Any], org_id: str) -> LegacyPartyOut:
    return LegacyPartyOut(
        id=row["id"],
        organizationId=org_id,
        organization_id=org_id,
        name=row["name"] or row["external_id"],
        externalId=row["external_id"],
        description=row.get("description"),
    )


@both_slashes(router, "POST", "/api/v1/customers", response_model=LegacyPartyOut)
def create_customer(body: LegacyParty, request: Request) -> LegacyPartyOut:
    who = principal(request, "admin")
    values = {"external_id": body.externalId or new_id("cus"), "name": body.name}
    with AppState.of(request).db.write() as conn:
        row, _created = CUSTOMERS.upsert(conn, who.org_id, values)
    return _party(row, who.org_id)


@both_slashes(router, "POST", "/api/v1/agents", response_model=LegacyPartyOut)
def create_agent(body: LegacyParty, request: Request) -> LegacyPartyOut:
    who = principal(request, "admin")
    values = {
        "external_id": body.externalId or new_id("agt"),
        "name": body.name,
        "description": body.description,
    }
    with AppState.of(request).db.write() as conn:
        row, _created = AGENTS.upsert(conn, who.org_id, values)
    return _party(row, who.org_id)


@router.post(
    "/v1/traces",
    summary="Receive Paid 0.x traces (key in resource 'api.key')",
    response_class=Response,
    responses={
        200: {
            "content": {PROTOBUF: {"schema": {"type": "string", "format": "binary"}}},
            "description": "Stored (see partial_success): an ExportTraceServiceResponse.",
        }
    },
)
async def export_traces(request: Request) -> Response:
    """OTLP/HTTP protobuf as Paid 0.x exports it: no Authorization header, the key in each
    resource's ``api.key`` attribute (a Bearer header is accepted too)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != PROTOBUF:
        raise Problem(415, f"content type must be {PROTOBUF}", field="content-type")
    state = AppState.of(request)
    try:
        with export_slots(request).hold():
            try:
                message = await run_in_threadpool(  # CPU work: off the event loop
                    decode,
                    await request.body(),
                    PROTOBUF,
                    request.headers.get("content-encoding", ""),
                    state.settings.max_body_bytes,
                )
            except OtlpError as exc:
                raise Problem(400, str(exc), field=exc.field) from None
            except TooLarge as exc:
                raise Problem(413, str(exc), field="body") from None
            if "authorization" in request.headers:
                org_id = principal(request, "ingest").org_id
            else:
                org_id = _resource_key(state, message)
            received = await run_in_threadpool(receive, state, org_id, message)
    except Busy:
        detail = "the server is storing as many exports as it may at once; retry later"
        return problem_response(Problem(429, detail, field="body"), {"Retry-After": RETRY_AFTER})
    answer = ExportTraceServiceResponse()
    if received.rejected:
        answer.partial_success.rejected_spans = len(received.rejected)
        answer.partial_success.error_message = "; ".join(received.rejected[:20])[:4000]
    return Response(answer.SerializeToString(), media_type=PROTOBUF)


def _resource_key(state: AppState, message: Any) -> str:
    """The organization of the key in the resources' ``api.key`` (one key per export)."""
    secrets = {
        kv.value.string_value
        for rs in message.resource_spans
        for kv in rs.resource.attributes
        if kv.key == "api.key"
    }
    if not secrets:
        raise Problem(401, "missing API key: set the resource attribute 'api.key'", field="api.key")
    if len(secrets) > 1:
        raise Problem(400, "one export must carry one 'api.key'", field="api.key")
    with state.db.read() as conn:
        found = authenticate(conn, secrets.pop())
    if found is None:
        raise Problem(401, "unknown or revoked API key", field="api.key")
    if not found.allows("ingest"):
        raise Problem(
            403, f"this key has scope '{found.scope}'; this needs 'ingest'", field="api.key"
        )
    return found.org_id


unsupported(router, "/api/v1", "Paid 0.x")
