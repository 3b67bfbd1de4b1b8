"""A customer's units in Paid's shapes: ``customers/{id}/customer-units`` (list, create),
``…/customer-units/{unit}`` (get, patch, delete) and ``…/{unit}/cap`` (get, set, end), and
their ``customers/external/{externalId}/…`` forms. Services: ``margin.control.units`` and
``margin.control.unit_caps``.

Paid's rules kept here, beside Margin's own (parent of the same customer, no cycle, depth,
no removal under children): a new unit without a parent is the customer's root, and a
customer has one; an existing external id is a 409 (Margin's own route updates instead); a
unit with a cap is not deleted. Where Margin differs: a deleted unit is gone (answered once
with ``status: DELETED``, then 404), a unit keeps no update time (``updatedAt`` is its
``createdAt``), a cap has no versions (setting one replaces it; ending it removes it), a
scheduled cap is answered with ``currentPeriod: null``, and a root unit's cap limits the
root's subtree only, not usage attributed to no unit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import ValidationError
from sqlalchemy import Connection, select, union

from margin._refusal import Refusal
from margin._time import isoformat
from margin.compat._common import CamelModel, Limit, Offset, principal
from margin.compat.paid.credits import paid_number
from margin.compat.paid.parties import page_of, router
from margin.control.quantities import parse_quantity
from margin.control.unit_caps import CapIn, cap_state, end_cap, set_cap
from margin.control.units import (
    UnitIn,
    UnitPatch,
    get_unit,
    list_units,
    remove_unit,
    update_unit,
    upsert_unit,
)
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import CUSTOMERS
from margin.store.schema_control import credit_grants, features

__all__ = ["PaidCapIn", "PaidUnitIn", "PaidUnitPatch", "paid_unit"]

#: Margin's field names as Paid's requests and paths spell them.
_FIELDS = {
    "external_id": "externalId",
    "external_type": "externalType",
    "parent": "parentExternalId",
    "unit": "externalCustomerUnitId",
    "currency": "creditsCurrencyId",
    "effective_from": "effectiveFrom",
}
Currency = Annotated[str | None, Query(alias="creditsCurrencyId", max_length=64)]


class PaidUnitIn(CamelModel):
    """Paid's ``CustomerUnitCreate``."""

    external_id: str
    name: str | None = None
    external_type: str | None = None
    parent_external_id: str | None = None
    metadata: dict[str, Any] | None = None


class PaidUnitPatch(CamelModel):
    """Paid's ``CustomerUnitUpdate``: only the fields sent change."""

    name: str | None = None
    external_type: str | None = None
    parent_external_id: str | None = None
    metadata: dict[str, Any] | None = None


class PaidCapIn(CamelModel):
    """Paid's ``CustomerUnitCapSet`` (``amount`` read as an exact decimal)."""

    amount: Decimal
    frequency: str | None = None
    credits_currency_id: str | None = None
    effective_from: str | None = None


@contextmanager
def _paid_fields() -> Iterator[None]:
    """A refusal of Margin's services, or of its models, naming Paid's field."""
    try:
        yield
    except Refusal as exc:
        field = _FIELDS.get(exc.field, exc.field)
        detail = exc.detail
        if detail.startswith(f"{exc.field}:"):
            detail = field + detail[len(exc.field) :]
        raise Problem(exc.status, detail, field=field) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _FIELDS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise Problem(422, f"{field}: {first['msg']}", field=field) from None


def paid_unit(row: dict[str, Any], status: str = "ACTIVE") -> dict[str, Any]:
    """Paid's ``CustomerUnit``."""
    created = isoformat(row["created_at"])
    return {
        "externalId": row["external_id"],
        "name": row["name"] or row["external_id"],
        "externalType": row["external_type"],
        "status": status,
        "parentExternalId": row.get("parent_external_id"),
        "isRoot": row["parent_id"] is None,
        "metadata": row["metadata"],
        "createdAt": created,
        "updatedAt": created,
    }


def _customer(conn: Connection, org_id: str, ref: str, external: bool) -> str:
    row = (CUSTOMERS.get_by_external if external else CUSTOMERS.get)(conn, org_id, ref)
    if row is None:
        raise Problem(404, f"no customer '{ref}'", field="externalId" if external else "id")
    return str(row["id"])


def _unit(conn: Connection, org_id: str, cid: str, ref: str) -> dict[str, Any]:
    with _paid_fields():
        return get_unit(conn, org_id, cid, ref)


def _unit_routes(path: str, external: bool) -> None:
    suffix = "_ext" * external
    units = f"{path}/customer-units"

    @router.get(units, name=f"list_customer_units{suffix}")
    def list_(
        ref: str,
        request: Request,
        limit: Limit = 50,
        offset: Offset = 0,
        status: str = "ACTIVE",
        external_type: Annotated[str | None, Query(alias="externalType")] = None,
        parent: Annotated[str | None, Query(alias="parentExternalId")] = None,
    ) -> dict[str, Any]:
        """Oldest first; a deleted unit is gone, so ``status=DELETED`` lists none."""
        who = principal(request, "read")
        with AppState.of(request).db.read() as conn:
            rows = list_units(conn, who.org_id, _customer(conn, who.org_id, ref, external))
        rows = [
            r
            for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))
            if status.upper() == "ACTIVE"
            and (external_type is None or r["external_type"] == external_type)
            and (parent is None or r["parent_external_id"] == parent)
        ]
        data = [paid_unit(r) for r in rows[offset : offset + limit]]
        return page_of(data, limit, offset, len(rows)).model_dump(by_alias=True)

    @router.post(units, status_code=201, name=f"create_customer_unit{suffix}")
    def create(ref: str, body: PaidUnitIn, request: Request) -> dict[str, Any]:
        who = principal(request, "admin")
        if body.external_id in {".", ".."}:
            raise Problem(422, "externalId: cannot be '.' or '..'", field="externalId")
        state = AppState.of(request)
        with state.db.write() as conn, _paid_fields():
            cid = _customer(conn, who.org_id, ref, external)
            spec = UnitIn(
                external_id=body.external_id,
                name=body.name or body.external_id,
                external_type=body.external_type,
                parent=body.parent_external_id,
                metadata=body.metadata or {},
            )
            present = list_units(conn, who.org_id, cid)
            if any(r["external_id"] == spec.external_id for r in present):
                detail = f"externalId: the customer has a unit '{spec.external_id}'"
                raise Problem(409, detail, field="externalId")
            root = next((r for r in present if r["parent_id"] is None), None)
            if spec.parent is None and root is not None:
                detail = f"parentExternalId: the customer's root unit is '{root['external_id']}'"
                raise Problem(409, detail, field="parentExternalId")
            row, _created = upsert_unit(conn, who.org_id, cid, spec, state.clock())
        return paid_unit(row)

    @router.get(f"{units}/{{unit}}", name=f"get_customer_unit{suffix}")
    def get(ref: str, unit: str, request: Request) -> dict[str, Any]:
        who = principal(request, "read")
        with AppState.of(request).db.read() as conn:
            return paid_unit(
                _unit(conn, who.org_id, _customer(conn, who.org_id, ref, external), unit)
            )

    @router.patch(f"{units}/{{unit}}", name=f"update_customer_unit{suffix}")
    def patch(ref: str, unit: str, body: PaidUnitPatch, request: Request) -> dict[str, Any]:
        who = principal(request, "admin")
        sent = body.model_dump(exclude_unset=True)
        if "parent_external_id" in sent:
            sent["parent"] = sent.pop("parent_external_id")
        with AppState.of(request).db.write() as conn, _paid_fields():
            cid = _customer(conn, who.org_id, ref, external)
            return paid_unit(update_unit(conn, who.org_id, cid, unit, UnitPatch(**sent)))

    @router.delete(f"{units}/{{unit}}", name=f"delete_customer_unit{suffix}")
    def delete(ref: str, unit: str, request: Request) -> dict[str, Any]:
        """Removes the unit; answers it once more, ``DELETED``."""
        who = principal(request, "admin")
        with AppState.of(request).db.write() as conn, _paid_fields():
            cid = _customer(conn, who.org_id, ref, external)
            if get_unit(conn, who.org_id, cid, unit)["cap"] is not None:
                detail = f"externalCustomerUnitId: '{unit}' has a cap; end it first"
                raise Problem(409, detail, field="externalCustomerUnitId")
            return paid_unit(remove_unit(conn, who.org_id, cid, unit), "DELETED")

    _cap_routes(f"{units}/{{unit}}/cap", external, suffix)


def _org_currencies(conn: Connection, org_id: str) -> list[str]:
    """The organization's credit currencies: those its features burn or its grants give."""
    f, g = features, credit_grants
    both = union(
        select(f.c.credit_currency.label("c")).where(
            f.c.org_id == org_id, f.c.credit_currency.is_not(None)
        ),
        select(g.c.currency.label("c")).where(g.c.org_id == org_id),
    )
    return sorted(str(r.c) for r in conn.execute(select(both.subquery().c.c)))


def _currency_of(conn: Connection, org_id: str, given: str | None) -> str:
    """``creditsCurrencyId``, or the organization's only credit currency when omitted."""
    if given is not None:
        return given
    known = _org_currencies(conn, org_id)
    if len(known) != 1:
        detail = (
            f"creditsCurrencyId: required (the organization has {len(known)} credit currencies)"
        )
        raise Problem(422, detail, field="creditsCurrencyId")
    return known[0]


def _policy(cap: dict[str, Any], until: int | None) -> dict[str, Any]:
    return {
        "amount": paid_number(parse_quantity(cap["amount"], "amount")),
        "frequency": cap["frequency"],
        "effectiveFrom": isoformat(cap["effective_from"]),
        "effectiveUntil": None if until is None else isoformat(until),
        "createdAt": isoformat(cap["created_at"]),
        "source": "api",
    }


def _cap_answer(
    conn: Connection, org_id: str, cid: str, unit: dict[str, Any], now: int
) -> dict[str, Any]:
    """Paid's ``CustomerUnitCapResponse`` (and ``…SetResponse``) of the unit's cap."""
    cap = unit["cap"]
    state = cap_state(conn, org_id, cid, unit["id"], cap, now)
    period = state and {
        "window": {"start": isoformat(state["start"]), "end": isoformat(state["end"])},
        "used": paid_number(state["used_nanos"]),
        "remaining": paid_number(state["amount_nanos"] - state["used_nanos"]),
    }
    return {
        "externalCustomerUnitId": unit["external_id"],
        "customerId": cid,
        "creditsCurrencyId": cap["credit_currency"],
        "policy": _policy(cap, None),
        "currentPeriod": period,
    }


def _capped_unit(
    conn: Connection, org_id: str, cid: str, ref: str, currency: str | None
) -> dict[str, Any]:
    """The unit, when it has a cap (in ``currency``, when given); 404 otherwise."""
    unit = _unit(conn, org_id, cid, ref)
    cap = unit["cap"]
    if cap is None or (currency is not None and cap["credit_currency"] != currency):
        what = f" in '{currency}'" if currency is not None else ""
        detail = f"externalCustomerUnitId: the unit '{ref}' has no cap{what}"
        raise Problem(404, detail, field="externalCustomerUnitId")
    return unit


def _cap_routes(cap: str, external: bool, suffix: str) -> None:
    @router.get(cap, name=f"get_customer_unit_cap{suffix}")
    def get_cap(ref: str, unit: str, request: Request, currency: Currency = None) -> dict[str, Any]:
        who = principal(request, "read")
        state = AppState.of(request)
        with state.db.read() as conn:
            cid = _customer(conn, who.org_id, ref, external)
            row = _capped_unit(conn, who.org_id, cid, unit, currency)
            return _cap_answer(conn, who.org_id, cid, row, state.clock())

    @router.put(cap, name=f"set_customer_unit_cap{suffix}")
    def put_cap(ref: str, unit: str, body: PaidCapIn, request: Request) -> dict[str, Any]:
        who = principal(request, "admin")
        state = AppState.of(request)
        now = state.clock()
        with state.db.write() as conn, _paid_fields():
            cid = _customer(conn, who.org_id, ref, external)
            _unit(conn, who.org_id, cid, unit)
            spec = CapIn(
                amount=format(body.amount, "f"),
                currency=_currency_of(conn, who.org_id, body.credits_currency_id),
                frequency=body.frequency or "MONTHLY",
                effective_from=body.effective_from,
            )
            row = set_cap(conn, who.org_id, cid, unit, spec, now)
            return _cap_answer(conn, who.org_id, cid, row, now)

    @router.delete(cap, name=f"end_customer_unit_cap{suffix}")
    def end(ref: str, unit: str, request: Request, currency: Currency = None) -> dict[str, Any]:
        """Removes the cap; its ``policy`` is the cap ended now (null if it was scheduled)."""
        who = principal(request, "admin")
        state = AppState.of(request)
        now = state.clock()
        with state.db.write() as conn, _paid_fields():
            cid = _customer(conn, who.org_id, ref, external)
            row = _capped_unit(conn, who.org_id, cid, unit, currency)
            old = end_cap(conn, who.org_id, cid, unit)
        return {
            "externalCustomerUnitId": row["external_id"],
            "customerId": cid,
            "creditsCurrencyId": old["credit_currency"],
            "policy": _policy(old, now) if old["effective_from"] <= now else None,
            "endedVersions": 1,
        }


_unit_routes("/customers/external/{ref}", True)
_unit_routes("/customers/{ref}", False)
