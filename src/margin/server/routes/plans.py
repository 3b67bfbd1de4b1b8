"""``/v1/plans`` and ``/v1/orders``: what is sold, and which customer bought it when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from margin._ids import new_id
from margin._time import isoformat, now_micros
from margin.billing.plans import OrderIn, PlanIn, apply_overrides, load_orders
from margin.server.auth import require
from margin.server.params import time_param
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.keys import Principal
from margin.store.schema import orders, plans

__all__ = ["router"]

router = APIRouter(tags=["plans"])

Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("read"))]


def render_plan(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("org_id", "charges")}
    out.update(row["charges"])
    out["created_at"] = isoformat(row["created_at"])
    out["updated_at"] = isoformat(row["updated_at"])
    return out


def render_order(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "plan_id": row["plan_id"],
        "plan": row.get("plan_key"),
        "starts_at": isoformat(row["starts_at"]),
        "ends_at": isoformat(row["ends_at"]) if row["ends_at"] is not None else None,
        "overrides": row["overrides"],
        "charges": row.get("charges"),
        "created_at": isoformat(row["created_at"]),
    }


def _plan(conn: Connection, org_id: str, ref: str) -> dict[str, Any]:
    row = conn.execute(
        select(plans).where(plans.c.org_id == org_id, (plans.c.key == ref) | (plans.c.id == ref))
    ).first()
    if row is None:
        raise Problem(404, f"no plan '{ref}'", field="plan")
    return dict(row._mapping)


@router.post("/v1/plans", status_code=201, summary="Create a plan")
def create_plan(body: PlanIn, request: Request, principal: Admin) -> dict[str, Any]:
    now = now_micros()
    try:
        with AppState.of(request).db.write() as conn:
            agent_id = None
            if body.agent is not None:
                found = AGENTS.resolve(conn, principal.org_id, [body.agent], create=False)
                if body.agent not in found:
                    raise Problem(422, f"agent: no agent '{body.agent}'", field="agent")
                agent_id = found[body.agent]
            row = {
                "id": new_id("plan"),
                "org_id": principal.org_id,
                "key": body.key,
                "name": body.name,
                "agent_id": agent_id,
                "currency": body.currency,
                "charges": body.charges(),
                "created_at": now,
                "updated_at": now,
            }
            conn.execute(plans.insert().values(**row))
    except IntegrityError:
        raise Problem(409, f"a plan '{body.key}' exists", field="key") from None
    return render_plan(row)


@router.get("/v1/plans", summary="List plans")
def list_plans(request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        rows = conn.execute(
            select(plans).where(plans.c.org_id == principal.org_id).order_by(plans.c.key)
        )
        return {"data": [render_plan(dict(r._mapping)) for r in rows]}


@router.get("/v1/plans/{ref}", summary="Get a plan by key or id")
def get_plan(ref: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return render_plan(_plan(conn, principal.org_id, ref))


@router.post("/v1/orders", status_code=201, summary="Subscribe a customer to a plan")
def create_order(body: OrderIn, request: Request, principal: Admin) -> dict[str, Any]:
    starts = time_param(body.starts_at, "starts_at")
    ends = time_param(body.ends_at, "ends_at") if body.ends_at else None
    if ends is not None and ends <= starts:
        raise Problem(422, "ends_at: must be after starts_at", field="ends_at")
    with AppState.of(request).db.write() as conn:
        plan = _plan(conn, principal.org_id, body.plan)
        try:
            apply_overrides(plan["charges"], body.overrides)
        except ValueError as exc:
            raise Problem(422, str(exc), field=str(exc).split(":", 1)[0]) from None
        found = CUSTOMERS.resolve(conn, principal.org_id, [body.customer], create=False)
        customer_id = found.get(body.customer)
        if customer_id is None:
            ids = CUSTOMERS.existing_ids(conn, principal.org_id, [body.customer])
            if not ids:
                raise Problem(422, f"customer: no customer '{body.customer}'", field="customer")
            customer_id = body.customer
        row = {
            "id": new_id("ord"),
            "org_id": principal.org_id,
            "customer_id": customer_id,
            "plan_id": plan["id"],
            "starts_at": starts,
            "ends_at": ends,
            "overrides": body.overrides,
            "created_at": now_micros(),
        }
        conn.execute(orders.insert().values(**row))
        return _order(conn, principal.org_id, row["id"])


def _order(conn: Connection, org_id: str, order_id: str) -> dict[str, Any]:
    for row in load_orders(conn, org_id):
        if row["id"] == order_id:
            return render_order(row)
    raise Problem(404, f"no order '{order_id}'", field="id")


@router.get("/v1/orders", summary="List orders")
def list_orders(request: Request, principal: Reader, customer: str | None = None) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        customer_id = None
        if customer is not None:
            customer_id = CUSTOMERS.resolve(conn, principal.org_id, [customer], create=False).get(
                customer, customer
            )
        return {"data": [render_order(r) for r in load_orders(conn, principal.org_id, customer_id)]}


@router.get("/v1/orders/{order_id}", summary="Get an order")
def get_order(order_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    with AppState.of(request).db.read() as conn:
        return _order(conn, principal.org_id, order_id)


class OrderEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ends_at: str | None


@router.patch("/v1/orders/{order_id}", summary="End (or reopen) an order")
def end_order(order_id: str, body: OrderEnd, request: Request, principal: Admin) -> dict[str, Any]:
    ends = time_param(body.ends_at, "ends_at") if body.ends_at else None
    with AppState.of(request).db.write() as conn:
        current = _order(conn, principal.org_id, order_id)
        if ends is not None and ends <= time_param(current["starts_at"], "starts_at"):
            raise Problem(422, "ends_at: must be after starts_at", field="ends_at")
        conn.execute(
            update(orders)
            .where(orders.c.org_id == principal.org_id, orders.c.id == order_id)
            .values(ends_at=ends)
        )
        return _order(conn, principal.org_id, order_id)
