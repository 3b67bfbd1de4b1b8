"""Paid's signals and costs, under ``/compat/paid/api/v2``: ``signals/bulk`` and
``costs/bulk`` become items of Margin's ledger, and ``signals/`` lists what it stored.

A duplicate ``idempotencyKey`` answers 200 with the item counted in ``duplicates`` (Paid's
client retries a 409). A signal whose ``data.paid.paid_scope_id`` is set (sent by
``cost_attributed_signal``) claims the costs of the spans of that scope (``scopes``). Costs
carry no key on Paid's wire: each is keyed by its content, so a retried record is stored once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, func, select
from starlette.responses import Response

from margin._time import isoformat
from margin.compat._common import (
    Limit,
    Offset,
    both_slashes,
    in_thread,
    ledger,
    principal,
    utc,
    vendor_error,
)
from margin.compat.paid.models import (
    BulkSignalsIn,
    BulkSignalsOut,
    CostRecord,
    CostsIn,
    CostsOut,
    Page,
    SignalIn,
    SignalOut,
)
from margin.compat.paid.parties import page_of, router
from margin.compat.paid.scopes import claim_scope, scope_of
from margin.server._results import BatchResult, content_hash
from margin.server.params import time_param
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.archived import refuse_archived
from margin.store.schema import agents, customers, signals

__all__ = ["cost_item", "signal_item", "store_signals"]


def _refs(item: dict[str, Any], customer: Any, product: Any) -> None:
    if customer.customer_id:
        item["customer_id"] = customer.customer_id
    elif customer.external_customer_id:
        item["customer"] = customer.external_customer_id
    if product is not None and product.product_id:
        item["agent_id"] = product.product_id
    elif product is not None and product.external_product_id:
        item["agent"] = product.external_product_id


def signal_item(raw: Any) -> dict[str, Any]:
    """A Paid signal as a Margin signal item (raises ``ValidationError`` for a bad one)."""
    signal = SignalIn.model_validate(raw)
    data = dict(signal.data or {})
    item: dict[str, Any] = {"event_name": signal.event_name, "data": data}
    if signal.customer_unit is not None and isinstance(data.setdefault("paid", {}), dict):
        data["paid"] = {**data["paid"], "customerUnit": signal.customer_unit}
        # Attributed to the customer's unit of that external id (unknown: the signal fails).
        unit = signal.customer_unit.get("externalCustomerUnitId")
        if isinstance(unit, str) and unit:
            item["unit"] = unit
    _refs(item, signal.customer, signal.attribution)
    if signal.timestamp is not None:
        item["timestamp"] = utc(signal.timestamp)
    # A scoped signal always has a key, so that its stored row can be found in the same
    # transaction (a retry of the same content derives the same key).
    item["idempotency_key"] = signal.idempotency_key or f"paid:{content_hash(raw)}"
    return item


def cost_item(raw: Any) -> dict[str, Any]:
    """A Paid cost record as a Margin cost item (raises ``ValidationError`` or ``Problem``)."""
    record = CostRecord.model_validate(raw)
    item: dict[str, Any] = {"idempotency_key": f"paid:{content_hash(raw)}"}
    _refs(item, record.customer, record.product)
    if record.vendor:
        item["provider"] = record.vendor
    if record.model:
        item["model"] = record.model
    if record.timestamp is not None:
        item["timestamp"] = utc(record.timestamp)
    if record.type == "cost":
        if record.amount is None or record.currency is None:
            field = "amount" if record.amount is None else "currency"
            raise Problem(422, f"{field}: required by a 'cost' record", field=field)
        item.update(amount=record.amount, currency=record.currency.upper())
        return item
    if record.usage is None or not record.vendor or not record.model:
        field = "usage" if record.usage is None else ("vendor" if not record.vendor else "model")
        raise Problem(422, f"{field}: required by a 'usage' record", field=field)
    # Paid's token names are its span attributes': one usage normalizer reads them all.
    tokens = record.usage
    usage = {
        "gen_ai.usage.input_tokens": tokens.input_tokens,
        "gen_ai.usage.output_tokens": tokens.output_tokens,
        "gen_ai.usage.cached_input_tokens": tokens.cache_read_input_tokens,
        "gen_ai.usage.cache_creation_input_tokens": tokens.cache_creation_input_tokens,
        "gen_ai.usage.reasoning_output_tokens": tokens.reasoning_output_tokens,
    }
    item["usage"] = {k: v for k, v in usage.items() if v is not None}
    if record.cost_override is not None:
        item.update(
            amount=record.cost_override.amount, currency=record.cost_override.currency.upper()
        )
    return item


def translate(
    raws: Sequence[Any], make: Callable[[Any], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[int], list[dict[str, Any]]]:
    """Items for the ledger, the index of each in ``raws``, and the errors of the others."""
    items, where, errors = [], [], []
    for index, raw in enumerate(raws):
        try:
            items.append(make(raw))
            where.append(index)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err.get("loc", ())) or "body"
            errors.append({"index": index, "field": field, "detail": err.get("msg", "invalid")})
        except Problem as exc:
            errors.append({"index": index, "field": exc.field, "detail": exc.detail})
    return items, where, errors


#: Margin's field names of a failed item, as Paid's signals and costs name them.
_SIGNAL_FIELDS = {
    "unit": "customerUnit.externalCustomerUnitId",
    "idempotency_key": "idempotencyKey",
    "event_name": "eventName",
    "customer_id": "customer.customerId",
    "customer": "customer.externalCustomerId",
    "agent_id": "attribution.productId",
    "agent": "attribution.externalProductId",
}
_COST_FIELDS = {
    "customer_id": "customer.customerId",
    "customer": "customer.externalCustomerId",
    "agent_id": "product.productId",
    "agent": "product.externalProductId",
    "provider": "vendor",
}


def _errors(result: BatchResult, where: list[int], names: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"index": where[r.index], "field": names.get(r.field or "", r.field)}
        | {"detail": r.detail, "status": r.status}
        for r in result.failed
    ]


def _scopes(org_id: str, items: list[dict[str, Any]]) -> Callable[[Connection], None] | None:
    """The ``before_commit`` that lets scoped signals claim their costs."""
    scoped = {
        item["idempotency_key"]: scope
        for item in items
        if isinstance(paid := item["data"].get("paid"), dict)
        and (scope := scope_of(paid.get("paid_scope_id"))) is not None
    }
    if not scoped:
        return None

    def claim(conn: Connection) -> None:
        rows = conn.execute(
            select(
                signals.c.id,
                signals.c.event_name,
                signals.c.idempotency_key,
                customers.c.external_id,
            )
            .join(customers, customers.c.id == signals.c.customer_id)
            .where(signals.c.org_id == org_id, signals.c.idempotency_key.in_(sorted(scoped)))
        )
        for row in sorted(rows, key=lambda r: r.idempotency_key):
            scope = scoped[row.idempotency_key]
            claim_scope(conn, org_id, row.external_id, scope, row.id, row.event_name)

    return claim


async def store_signals(request: Request, org_id: str, items: list[dict[str, Any]]) -> BatchResult:
    """Store translated signals through the ledger, with their scope claims."""
    claim = _scopes(org_id, items)
    book = ledger(request)
    return await in_thread(lambda: book.ingest_signals(org_id, items, "paid", before_commit=claim))


def _answer(
    model: type[BaseModel], result: BatchResult, errors: list[dict[str, Any]]
) -> Response | Any:
    """Paid's counts of a batch whose valid items were stored (or, in queue mode, accepted),
    as Margin's own batches answer: a bad item fails alone. A batch of which nothing was
    stored or accepted is a 400 naming the first bad item's field."""
    errors = sorted(errors, key=lambda e: e["index"])
    kept = result.ingested + result.duplicates + result.accepted
    if errors and not kept:
        field = f"{errors[0]['index']}.{errors[0]['field']}"
        problem = Problem(400, f"{field}: {errors[0]['detail']}", field=field)
        return vendor_error(problem, "application/problem+json")
    return model.model_validate(
        {
            "accepted": result.accepted,
            "ingested": result.ingested,
            "duplicates": result.duplicates,
            "failed": len(errors),
            "errors": errors,
        }
    )


@both_slashes(router, "POST", "/signals/bulk", response_model=BulkSignalsOut)
async def create_signals(body: BulkSignalsIn, request: Request) -> Response | BulkSignalsOut:
    """Signals by customer id or external id; ``duplicates`` counts repeated keys."""
    who = principal(request, "ingest")
    items, where, errors = translate(body.signals, signal_item)
    result = await store_signals(request, who.org_id, items) if items else BatchResult([])
    answer: Response | BulkSignalsOut = _answer(
        BulkSignalsOut, result, errors + _errors(result, where, _SIGNAL_FIELDS)
    )
    return answer


@both_slashes(router, "POST", "/costs/bulk", response_model=CostsOut)
async def create_costs(body: CostsIn, request: Request) -> Response | CostsOut:
    """``cost`` records (an amount) and ``usage`` records (priced by Margin's price book,
    unless ``costOverride`` gives the amount)."""
    who = principal(request, "ingest")
    items, where, errors = translate(body.costs, cost_item)
    book = ledger(request)
    result = (
        await in_thread(lambda: book.ingest_costs(who.org_id, items, "paid"))
        if items
        else BatchResult([])
    )
    answer: Response | CostsOut = _answer(
        CostsOut, result, errors + _errors(result, where, _COST_FIELDS)
    )
    return answer


def _signal_out(row: Any) -> SignalOut:
    return SignalOut(
        id=row.id,
        name=row.event_name,
        created_at=isoformat(row.ts),
        customer_id=row.customer_id,
        external_customer_id=row.customer_ref,
        product_id=row.agent_id,
        external_product_id=row.agent_ref,
        trace_id=row.trace_id,
        data=row.data,
    )


def _signal_query(org_id: str) -> Any:
    return (
        select(
            signals,
            customers.c.external_id.label("customer_ref"),
            agents.c.external_id.label("agent_ref"),
        )
        .join(customers, customers.c.id == signals.c.customer_id)
        .outerjoin(agents, agents.c.id == signals.c.agent_id)
        .where(signals.c.org_id == org_id)
    )


@both_slashes(router, "GET", "/signals/", response_model=Page)
def list_signals(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    signal_name: Annotated[str | None, Query(alias="signalName")] = None,
    customer_id: Annotated[str | None, Query(alias="customerId")] = None,
    external_customer_id: Annotated[str | None, Query(alias="externalCustomerId")] = None,
    product_id: Annotated[str | None, Query(alias="productId")] = None,
    external_product_id: Annotated[str | None, Query(alias="externalProductId")] = None,
    created_at_from: Annotated[str | None, Query(alias="createdAtFrom")] = None,
    created_at_to: Annotated[str | None, Query(alias="createdAtTo")] = None,
) -> Page:
    who = principal(request, "read")
    query = _signal_query(who.org_id)
    for column, value in (
        (signals.c.event_name, signal_name),
        (signals.c.customer_id, customer_id),
        (customers.c.external_id, external_customer_id),
        (signals.c.agent_id, product_id),
        (agents.c.external_id, external_product_id),
    ):
        if value is not None:
            query = query.where(column == value)
    lo = None if created_at_from is None else time_param(created_at_from, "createdAtFrom")
    hi = None if created_at_to is None else time_param(created_at_to, "createdAtTo")
    if lo is not None:
        query = query.where(signals.c.ts >= lo)
    if hi is not None:
        query = query.where(signals.c.ts < hi)
    with AppState.of(request).db.read() as conn:
        if lo is not None or hi is not None:  # as Margin's own lists
            refuse_archived(conn, lo, hi, "createdAtFrom" if lo is not None else "createdAtTo")
        total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = conn.execute(query.order_by(signals.c.ts, signals.c.id).limit(limit).offset(offset))
        data = [_signal_out(r).model_dump(by_alias=True) for r in rows]
    return page_of(data, limit, offset, int(total))


@router.get("/signals/{signal_id}", response_model=SignalOut)
def get_signal(signal_id: str, request: Request) -> SignalOut:
    who = principal(request, "read")
    with AppState.of(request).db.read() as conn:
        row = conn.execute(_signal_query(who.org_id).where(signals.c.id == signal_id)).first()
    if row is None:
        raise Problem(404, f"no signal '{signal_id}'", field="id")
    return _signal_out(row)
