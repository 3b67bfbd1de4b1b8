"""Paid's plans and orders under ``/compat/paid/api/v2``, where they map onto
Margin's plans, orders and invoices.

- A plan of a product is a Margin plan on that agent: a ``UsagePerUnit`` attribute is an
  outcome price (per signal of its ``eventName``), a ``RecurringPerUnit`` one a monthly or
  yearly fee. Paid's ``unitPrice`` is an integer in the currency's minor unit (cents).
  Other pricing types answer 422 naming the type.
- An order's lines each subscribe the customer to their product's plan (the default one,
  else the first) with a Margin order, when the order is active (a draft's at ``activate``).
  Paid's amounts on an order (``orderAmount``, ``totalBilledAmount``, …) are not computed
  here and are 0: read revenue from Margin's invoices and reports.

Plans and orders are made by Margin's own plan and order service functions
(``margin.billing.plans``, ``margin.billing.orders``), so each is made one way.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from margin._money import format_decimal
from margin._time import isoformat, now_micros
from margin.billing import orders as margin_orders
from margin.billing import plans as margin_plans
from margin.billing.errors import BillingError
from margin.billing.orders import OrderEnd, OrderIn
from margin.billing.plans import PlanIn
from margin.compat._common import Limit, Offset, both_slashes, principal
from margin.compat.paid.models import (
    Empty,
    Page,
    PaidOrderIn,
    PaidOrderOut,
    PaidPlanIn,
    PaidPlanOut,
)
from margin.compat.paid.parties import page_of, router
from margin.compat.records import Records
from margin.server.problems import Problem
from margin.server.routes._billing_api import problem
from margin.server.state import AppState
from margin.store.directory import AGENTS, CUSTOMERS

__all__ = ["create_order", "create_plan"]

PLAN, ORDER = "paid.plan", "paid.order"
# Currencies whose minor unit is not the cent (ISO 4217 exponents).
_EXPONENT = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}


def _price(point: dict[str, Any]) -> str:
    minor = point.get("unitPrice")
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise Problem(422, "pricePoints.unitPrice: an integer in minor units", field="pricePoints")
    currency = str(point.get("currency", "")).upper()
    return format_decimal(Decimal(minor).scaleb(-_EXPONENT.get(currency, 2)))


def _charges(attributes: list[dict[str, Any]], currency: str) -> dict[str, list[dict[str, Any]]]:
    """Paid plan attributes as Margin outcome prices and fees, in ``currency``."""
    outcomes, fees = [], []
    for n, attribute in enumerate(attributes):
        pricing = attribute.get("pricing") or {}
        kind = pricing.get("pricingType")
        points = [
            p
            for p in pricing.get("pricePoints") or []
            if str(p.get("currency", "")).upper() == currency
        ]
        if kind not in ("UsagePerUnit", "RecurringPerUnit"):
            raise Problem(
                422,
                f"attributes.{n}.pricing: pricing type '{kind}' is not supported",
                field=f"attributes.{n}.pricing",
            )
        if not points:
            raise Problem(
                422,
                f"attributes.{n}.pricing.pricePoints: no price in {currency}",
                field=f"attributes.{n}.pricing.pricePoints",
            )
        price = _price(points[0])
        if kind == "UsagePerUnit":
            outcomes.append({"event_name": pricing.get("eventName"), "price": price})
        else:
            frequency = str(pricing.get("billingFrequency", "monthly")).lower()
            interval = "yearly" if frequency in ("annual", "yearly") else "monthly"
            key = str(attribute.get("productAttributeId") or f"fee-{n}")[:64]
            fees.append({"key": key, "amount": price, "interval": interval})
    return {"outcomes": outcomes, "fees": fees}


def _pricing_out(pricing: dict[str, Any]) -> dict[str, Any]:
    """A stored attribute's pricing as Paid answers it (amounts in cents, as sent)."""
    kind = pricing.get("pricingType")
    return {
        **pricing,
        "chargeType": "usage" if kind == "UsagePerUnit" else "recurring",
        "pricingModel": "perUnit",
        "pricePoints": pricing.get("pricePoints") or [],
    }


def _plan_out(plan: dict[str, Any], doc: dict[str, Any]) -> PaidPlanOut:
    return PaidPlanOut(
        id=plan["id"],
        product_id=doc["productId"],
        name=plan.get("name"),
        external_id=doc.get("externalId"),
        supported_currencies=[plan["currency"]],
        is_default=bool(doc.get("isDefault")),
        status="active",
        attributes=[
            {
                "productAttributeId": a.get("productAttributeId", ""),
                "name": a.get("productAttributeId", ""),
                "active": True,
                "creditBenefits": [],
                "pricing": _pricing_out(a.get("pricing") or {}),
            }
            for a in doc.get("attributes", [])
        ],
        created_at=plan["created_at"],
        updated_at=plan["updated_at"],
    )


@both_slashes(router, "POST", "/plans/", response_model=PaidPlanOut)
def create_plan(body: PaidPlanIn, request: Request) -> PaidPlanOut:
    who = principal(request, "admin")
    attributes = [a.model_dump(by_alias=True, exclude_none=True) for a in body.attributes]
    currencies = [c.upper() for c in body.supported_currencies or []]
    if not currencies:
        points = [p for a in attributes for p in a["pricing"].get("pricePoints") or []]
        currencies = [str(points[0].get("currency", "USD")).upper()] if points else ["USD"]
    with AppState.of(request).db.read() as conn:
        agent = AGENTS.get(conn, who.org_id, body.product_id)
    if agent is None:
        raise Problem(422, f"productId: no product '{body.product_id}'", field="productId")
    try:
        spec = PlanIn(
            key=f"paid-{secrets.token_hex(8)}",
            name=body.name,
            agent=agent["external_id"],
            currency=currencies[0],
            **_charges(attributes, currencies[0]),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "attributes"
        raise Problem(422, f"{field}: {err.get('msg')}", field=field) from None
    doc = {
        "productId": body.product_id,
        "externalId": body.external_id,
        "isDefault": bool(body.is_default),
        "attributes": attributes,
    }
    with AppState.of(request).db.write() as conn:
        try:
            plan = margin_plans.render_plan(margin_plans.create_plan(conn, who.org_id, spec))
        except BillingError as exc:
            raise problem(exc) from None
        Records(conn, who.org_id, PLAN).create(
            doc, parent_id=body.product_id, external_id=plan["id"]
        )
    return _plan_out(plan, doc)


def _margin_plan(request: Request, org_id: str, plan_id: str) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        try:
            plan = margin_plans.get_plan(conn, org_id, plan_id)
        except BillingError as exc:
            raise problem(exc) from None
    assert plan is not None
    return margin_plans.render_plan(plan)


def _margin_order(request: Request, org_id: str, action: Any, *args: Any) -> dict[str, Any]:
    """Run one of ``margin.billing.orders``' writes, its refusal as a problem."""
    with AppState.of(request).db.write() as conn:
        try:
            return dict(action(conn, org_id, *args))
        except BillingError as exc:
            raise problem(exc) from None


def _plan_doc(request: Request, org_id: str, plan_id: str) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        record = Records(conn, org_id, PLAN).get(plan_id, external=True)
    if record is None:
        raise Problem(404, f"no plan '{plan_id}'", field="id")
    return dict(record["doc"])


@router.get("/plans/{plan_id}", response_model=PaidPlanOut)
def get_plan(plan_id: str, request: Request) -> PaidPlanOut:
    who = principal(request, "read")
    doc = _plan_doc(request, who.org_id, plan_id)
    return _plan_out(_margin_plan(request, who.org_id, plan_id), doc)


@both_slashes(router, "GET", "/plans/", response_model=Page)
def list_plans(request: Request, limit: Limit = 50, offset: Offset = 0) -> Page:
    who = principal(request, "read")
    with AppState.of(request).db.read() as conn:
        records, total = Records(conn, who.org_id, PLAN).page(limit, offset)
    data = [
        _plan_out(_margin_plan(request, who.org_id, r["external_id"]), r["doc"]).model_dump(
            by_alias=True
        )
        for r in records
    ]
    return page_of(data, limit, offset, total)


def _order_out(record: dict[str, Any]) -> PaidOrderOut:
    doc = record["doc"]
    zero = "0"
    return PaidOrderOut(
        id=record["id"],
        customer_id=doc["customerId"],
        billing_contact_ids=[],
        name=doc.get("name") or "",
        start_date=doc["startDate"],
        end_date=doc.get("endDate"),
        currency=doc.get("currency"),
        external_id=record["external_id"],
        billed_amount_no_tax=zero,
        billed_tax=zero,
        estimated_tax=zero,
        order_amount=zero,
        pending_billing_amount=zero,
        total_amount=zero,
        total_billed_amount=zero,
        creation_state=doc["creationState"],
        number=doc["number"],
        version=1,
        billing_frequency_overridden=False,
        lines=doc["lines"],
        created_at=isoformat(record["created_at"]),
        updated_at=isoformat(record["updated_at"]),
    )


def _subscribe(request: Request, who: Any, doc: dict[str, Any]) -> None:
    """Margin orders for the lines of an active order that have none yet."""
    with AppState.of(request).db.read() as conn:
        plans = list(Records(conn, who.org_id, PLAN).page(10_000, 0)[0])
    for n, line in enumerate(doc["lines"]):
        if line.get("marginOrderId"):
            continue
        mine = [p for p in plans if p["doc"].get("productId") == line["productId"]]
        mine.sort(key=lambda p: (not p["doc"].get("isDefault"), p["id"]))
        if not mine:
            raise Problem(
                422,
                f"lines.{n}.productId: product '{line['productId']}' has no plan",
                field=f"lines.{n}.productId",
            )
        try:
            spec = OrderIn(
                customer=doc["customerId"],
                plan=mine[0]["external_id"],
                starts_at=line.get("startDate") or doc["startDate"],
                ends_at=line.get("endDate") or doc.get("endDate"),
            )
        except ValidationError as exc:
            detail = exc.errors()[0].get("msg", "invalid")
            raise Problem(422, f"lines.{n}: {detail}", field=f"lines.{n}") from None
        order = _margin_order(request, who.org_id, margin_orders.create_order, spec)
        line["marginOrderId"], line["planId"] = order["id"], mine[0]["external_id"]


@both_slashes(router, "POST", "/orders/", response_model=PaidOrderOut)
def create_order(body: PaidOrderIn, request: Request) -> PaidOrderOut:
    who = principal(request, "admin")
    state = body.creation_state or "active"
    doc: dict[str, Any] = {
        "customerId": body.customer_id,
        "name": body.name,
        "startDate": body.start_date or isoformat(now_micros()),
        "endDate": body.end_date,
        "currency": body.currency,
        "creationState": state,
        "lines": [
            {
                "id": f"line_{secrets.token_hex(8)}",
                "productId": line.product_id,
                "name": line.name or "",
                "startDate": line.start_date,
                "endDate": line.end_date,
                "lineType": line.line_type or "standard",
            }
            for line in body.lines
        ],
    }
    with AppState.of(request).db.read() as conn:
        # Before any Margin order is made for it: an order of no customer is refused.
        if not CUSTOMERS.existing_ids(conn, who.org_id, [body.customer_id]):
            detail = f"customerId: no customer '{body.customer_id}'"
            raise Problem(422, detail, field="customerId")
        Records(conn, who.org_id, ORDER).check_new(body.external_id)
    if state == "active":
        _subscribe(request, who, doc)
    with AppState.of(request).db.write() as conn:
        records = Records(conn, who.org_id, ORDER)
        doc["number"] = records.page(1, 0)[1] + 1
        record = records.create(doc, parent_id=body.customer_id, external_id=body.external_id)
    return _order_out(record)


def _order_record(request: Request, org_id: str, order_id: str) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        record = Records(conn, org_id, ORDER).get(order_id)
    if record is None:
        raise Problem(404, f"no order '{order_id}'", field="id")
    return record


@router.get("/orders/{order_id}", response_model=PaidOrderOut)
def get_order(order_id: str, request: Request) -> PaidOrderOut:
    who = principal(request, "read")
    return _order_out(_order_record(request, who.org_id, order_id))


@both_slashes(router, "GET", "/orders/", response_model=Page)
def list_orders(request: Request, limit: Limit = 50, offset: Offset = 0) -> Page:
    who = principal(request, "read")
    with AppState.of(request).db.read() as conn:
        records, total = Records(conn, who.org_id, ORDER).page(limit, offset)
    return page_of([_order_out(r).model_dump(by_alias=True) for r in records], limit, offset, total)


@router.get("/orders/{order_id}/lines", response_model=Page)
def order_lines(order_id: str, request: Request) -> Page:
    who = principal(request, "read")
    record = _order_record(request, who.org_id, order_id)
    lines = [
        {**line, "startDate": line.get("startDate") or record["doc"]["startDate"]}
        for line in record["doc"]["lines"]
    ]
    return page_of(lines, len(lines) or 1, 0, len(lines))


@router.post("/orders/{order_id}/activate", response_model=PaidOrderOut)
def activate_order(order_id: str, request: Request) -> PaidOrderOut:
    """A draft's lines become Margin orders."""
    who = principal(request, "admin")
    record = _order_record(request, who.org_id, order_id)
    doc = dict(record["doc"])
    _subscribe(request, who, doc)
    doc["creationState"] = "active"
    with AppState.of(request).db.write() as conn:
        return _order_out(Records(conn, who.org_id, ORDER).update(record["id"], doc))


@router.delete("/orders/{order_id}", response_model=Empty)
def delete_order(order_id: str, request: Request) -> Empty:
    """Ends the order's Margin orders now (their past stays billed) and forgets the order."""
    who = principal(request, "admin")
    record = _order_record(request, who.org_id, order_id)
    for line in record["doc"]["lines"]:
        if line.get("marginOrderId"):
            end = OrderEnd(ends_at=isoformat(now_micros()))
            _margin_order(request, who.org_id, margin_orders.end_order, line["marginOrderId"], end)
    with AppState.of(request).db.write() as conn:
        Records(conn, who.org_id, ORDER).delete(record["id"])
    return Empty()
