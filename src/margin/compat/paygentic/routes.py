"""Paygentic's events, customers and products under ``/compat/paygentic/v0``, with the exact
status codes its SDK requires (202 for an event, 201 for a created object).

An event is a Margin event: ``subject`` is the customer's Margin id, ``externalSubject`` its
external id; ``idempotencyKey`` deduplicates (without one, an identical event is one event,
see Margin's derived keys). A customer is a Margin customer (``customerId`` is its id), a
product a Margin agent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from margin._ids import new_id
from margin._time import isoformat
from margin.compat._common import VendorRoute, in_thread, ledger, principal, unsupported, utc
from margin.compat.paygentic import metrics
from margin.compat.paygentic.models import (
    PaygenticCustomerIn,
    PaygenticCustomerOut,
    PaygenticEventIn,
    PaygenticEventOut,
    PaygenticProductIn,
    PaygenticProductOut,
)
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import AGENTS, CUSTOMERS

__all__ = ["router"]


class _JsonRoute(VendorRoute):
    # Paygentic's SDK types an error only when its content type is application/json.
    media_type = "application/json"


#: Margin's item fields as the event's wire names them, for an error to name what was sent.
_WIRE_FIELDS = {
    "customer_id": "subject",
    "customer": "externalSubject",
    "idempotency_key": "idempotencyKey",
}

router = APIRouter(
    prefix="/compat/paygentic/v0", tags=["compat: Paygentic"], route_class=_JsonRoute
)


@router.post("/events", status_code=202, response_model=PaygenticEventOut)
async def ingest_event(body: PaygenticEventIn, request: Request) -> PaygenticEventOut:
    """A metering or cost event (202 once stored, or in queue mode once the ingest queue has
    it, with ``status: accepted`` and no id yet; a repeated ``idempotencyKey`` too)."""
    who = principal(request, "ingest")
    if body.subject is None and body.external_subject is None:
        raise Problem(422, "subject: subject or externalSubject is required", field="subject")
    item: dict[str, Any] = {"type": body.type, "data": body.data}
    if body.subject is not None:
        item["customer_id"] = body.subject
    else:
        item["customer"] = body.external_subject
    if body.timestamp is not None:
        item["timestamp"] = utc(body.timestamp)
    if body.idempotency_key is not None:
        item["idempotency_key"] = body.idempotency_key
    book = ledger(request)
    result = await in_thread(lambda: book.ingest_events(who.org_id, [item], "paygentic"))
    outcome = result.items[0]
    # "accepted": in queue mode the ingest queue has it, and a writer stores it.
    if outcome.status not in ("ingested", "duplicate", "accepted"):
        field = _WIRE_FIELDS.get(outcome.field or "", outcome.field or "body")
        status = 409 if outcome.status == "conflict" else 400
        raise Problem(status, f"{field}: {outcome.detail}", field=field)
    return PaygenticEventOut(
        id=outcome.id,
        type=body.type,
        source=body.source,
        subject=body.subject or body.external_subject,
        idempotency_key=body.idempotency_key,
        status=outcome.status,
    )


@router.post("/customers", status_code=201, response_model=PaygenticCustomerOut)
def create_customer(body: PaygenticCustomerIn, request: Request) -> PaygenticCustomerOut:
    """A Margin customer (an existing ``externalId`` answers that customer)."""
    who = principal(request, "admin")
    consumer = body.consumer
    values: dict[str, Any] = {"external_id": body.external_id or new_id("cus")}
    if consumer is not None:
        values.update(name=consumer.name, email=consumer.email)
    extra = {
        k: v
        for k, v in {
            "merchantId": body.merchant_id,
            "taxId": body.tax_id,
            "address": consumer.address.model_dump(by_alias=True, exclude_none=True)
            if consumer and consumer.address
            else None,
            "phone": consumer.phone if consumer else None,
        }.items()
        if v is not None
    }
    with AppState.of(request).db.write() as conn:
        old = CUSTOMERS.get_by_external(conn, who.org_id, values["external_id"])
        meta = dict((old or {}).get("metadata") or {})
        values["metadata"] = {**meta, "_paygentic": {**meta.get("_paygentic", {}), **extra}}
        row, _created = CUSTOMERS.upsert(conn, who.org_id, values)
    return PaygenticCustomerOut(customer_id=row["id"], valid_tax_address={"valid": True})


@router.post("/products", status_code=201, response_model=PaygenticProductOut)
def create_product(body: PaygenticProductIn, request: Request) -> PaygenticProductOut:
    """A Margin agent."""
    who = principal(request, "admin")
    values = {
        "external_id": new_id("agt"),
        "name": body.name,
        "description": body.description,
        "metadata": {**(body.metadata or {}), "_paygentic": {"merchantId": body.merchant_id}},
    }
    with AppState.of(request).db.write() as conn:
        row, _created = AGENTS.upsert(conn, who.org_id, values)
    return PaygenticProductOut(
        id=row["id"],
        name=row["name"],
        description=row["description"] or "",
        merchant_id=body.merchant_id,
        metadata=body.metadata or {},
        created_at=isoformat(row["created_at"]),
        updated_at=isoformat(row["updated_at"]),
    )


metrics.register(router)
unsupported(router, "", "Paygentic")
