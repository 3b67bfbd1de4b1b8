"""Paid's customers, products (Margin's agents) and contacts, under ``/compat/paid/api/v2``.

A customer is a Margin customer; Paid's fields Margin has no column for (phone, website,
legal name, billing address, VAT number, creation state) are kept in its metadata under
``_paid``. A product is a Margin agent. A contact (Margin has none) is a compat record of
its customer. Without an ``externalId``, a new customer or product gets its Margin id as
its external id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Connection, Table, func, select

from margin._ids import new_id
from margin._time import isoformat
from margin.compat._common import Limit, Offset, VendorRoute, both_slashes, principal
from margin.compat.paid.models import (
    ContactIn,
    ContactOut,
    CustomerIn,
    CustomerOut,
    Empty,
    Page,
    Pagination,
    ProductIn,
    ProductOut,
)
from margin.compat.records import Records
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import AGENTS, CUSTOMERS, Directory
from margin.store.schema import agents, customers

__all__ = ["PREFIX", "page_of", "paid_customer", "paid_product", "router"]

PREFIX = "/compat/paid/api/v2"
router = APIRouter(prefix=PREFIX, tags=["compat: Paid"], route_class=VendorRoute)
_PAID_FIELDS = ("legalName", "phone", "website", "billingAddress", "vatNumber", "creationState")
CONTACT = "paid.contact"


def page_of(data: list[dict[str, Any]], limit: int, offset: int, total: int) -> Page:
    return Page(
        data=data,
        pagination=Pagination(
            limit=limit, offset=offset, total=total, has_more=offset + len(data) < total
        ),
    )


def _listing(
    conn: Connection, table: Table, org_id: str, limit: int, offset: int, **equals: Any
) -> tuple[list[dict[str, Any]], int]:
    where = [table.c.org_id == org_id]
    where += [table.c[k] == v for k, v in equals.items() if v is not None]
    total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    rows = conn.execute(
        select(table).where(*where).order_by(table.c.id).limit(limit).offset(offset)
    )
    return [dict(r._mapping) for r in rows], int(total)


# -- customers --------------------------------------------------------------------------------


def paid_customer(row: dict[str, Any]) -> CustomerOut:
    meta = dict(row.get("metadata") or {})
    extra = meta.pop("_paid", None) or {}
    return CustomerOut.model_validate(
        {
            "id": row["id"],
            "name": row["name"] or "",
            "email": row["email"] or "",
            "phone": extra.get("phone") or "",
            "website": extra.get("website") or "",
            "legalName": extra.get("legalName"),
            "billingAddress": extra.get("billingAddress"),
            "vatNumber": extra.get("vatNumber"),
            "creationState": extra.get("creationState") or "active",
            "status": "churned" if row.get("archived_at") else "active",
            "churnDate": extra.get("churnDate"),
            "externalId": row["external_id"],
            "defaultCurrency": row["currency"],
            "connections": {},
            "metadata": meta,
            "createdAt": isoformat(row["created_at"]),
            "updatedAt": isoformat(row["updated_at"]),
        }
    )


def _customer_values(body: CustomerIn, old: dict[str, Any] | None) -> dict[str, Any]:
    sent = body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)
    meta = dict((old or {}).get("metadata") or {})
    extra = dict(meta.get("_paid") or {})
    extra.update({k: sent[k] for k in (*_PAID_FIELDS, "churnDate") if k in sent})
    if "metadata" in sent:
        meta = {**sent["metadata"], "_paid": extra}
    meta["_paid"] = extra
    values: dict[str, Any] = {"metadata": meta}
    for ours, theirs in (("name", "name"), ("email", "email")):
        if theirs in sent:
            values[ours] = sent[theirs]
    if "defaultCurrency" in sent:
        values["currency"] = sent["defaultCurrency"].upper()
    return values


def _one(directory: Directory, conn: Connection, org_id: str, ref: str, external: bool) -> Any:
    row = (directory.get_by_external if external else directory.get)(conn, org_id, ref)
    if row is None:
        what = "product" if directory is AGENTS else "customer"
        raise Problem(404, f"no {what} '{ref}'", field="externalId" if external else "id")
    return row


@both_slashes(router, "POST", "/customers/", response_model=CustomerOut)
def create_customer(body: CustomerIn, request: Request) -> CustomerOut:
    """Create a customer (an existing ``externalId`` answers that customer, updated)."""
    who = principal(request, "admin")
    if not body.name:
        raise Problem(422, "name: required", field="name")
    values = _customer_values(body, None)
    values["external_id"] = body.external_id or new_id("cus")
    with AppState.of(request).db.write() as conn:
        old = CUSTOMERS.get_by_external(conn, who.org_id, values["external_id"])
        if old is not None:
            values = {**_customer_values(body, old), "external_id": values["external_id"]}
        row, _created = CUSTOMERS.upsert(conn, who.org_id, values)
    return paid_customer(row)


@both_slashes(router, "GET", "/customers/", response_model=Page)
def list_customers(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    external_id: Annotated[str | None, Query(alias="externalId")] = None,
    name: str | None = None,
) -> Page:
    who = principal(request, "read")
    with AppState.of(request).db.read() as conn:
        rows, total = _listing(
            conn, customers, who.org_id, limit, offset, external_id=external_id, name=name
        )
    data = [paid_customer(r).model_dump(by_alias=True) for r in rows]
    return page_of(data, limit, offset, total)


def _customer_routes(path: str, external: bool) -> None:
    @router.get(path, response_model=CustomerOut, name=f"get_customer{'_ext' * external}")
    def get(ref: str, request: Request) -> CustomerOut:
        who = principal(request, "read")
        with AppState.of(request).db.read() as conn:
            return paid_customer(_one(CUSTOMERS, conn, who.org_id, ref, external))

    @router.put(path, response_model=CustomerOut, name=f"update_customer{'_ext' * external}")
    def put(ref: str, body: CustomerIn, request: Request) -> CustomerOut:
        who = principal(request, "admin")
        with AppState.of(request).db.write() as conn:
            old = _one(CUSTOMERS, conn, who.org_id, ref, external)
            row = CUSTOMERS.update(conn, who.org_id, old["id"], _customer_values(body, old))
        return paid_customer(row or old)

    @router.delete(path, response_model=Empty, name=f"delete_customer{'_ext' * external}")
    def delete(ref: str, request: Request) -> Empty:
        """Archives the customer (Margin keeps its facts); answers ``{}``."""
        who = principal(request, "admin")
        with AppState.of(request).db.write() as conn:
            old = _one(CUSTOMERS, conn, who.org_id, ref, external)
            CUSTOMERS.archive(conn, who.org_id, old["id"])
        return Empty()


_customer_routes("/customers/external/{ref}", True)
_customer_routes("/customers/{ref}", False)


# -- products ---------------------------------------------------------------------------------


def paid_product(row: dict[str, Any]) -> ProductOut:
    meta = dict(row.get("metadata") or {})
    extra = meta.pop("_paid", None) or {}
    return ProductOut(
        id=row["id"],
        name=row["name"] or row["external_id"],
        description=row.get("description"),
        active=row.get("archived_at") is None and extra.get("active", True) is not False,
        product_code=extra.get("productCode"),
        external_id=row["external_id"],
        metadata=meta,
        product_attributes=[],
        created_at=isoformat(row["created_at"]),
        updated_at=isoformat(row["updated_at"]),
    )


def _product_values(body: ProductIn, old: dict[str, Any] | None) -> dict[str, Any]:
    sent = body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)
    meta = dict((old or {}).get("metadata") or {})
    extra = dict(meta.get("_paid") or {})
    extra.update({k: sent[k] for k in ("active", "productCode") if k in sent})
    if "metadata" in sent:
        meta = dict(sent["metadata"])
    meta["_paid"] = extra
    values: dict[str, Any] = {"metadata": meta}
    for key in ("name", "description"):
        if key in sent:
            values[key] = sent[key]
    return values


@both_slashes(router, "POST", "/products/", response_model=ProductOut)
def create_product(body: ProductIn, request: Request) -> ProductOut:
    """Create a product: a Margin agent (an existing ``externalId`` answers that agent)."""
    who = principal(request, "admin")
    if not body.name:
        raise Problem(422, "name: required", field="name")
    external_id = body.external_id or new_id("agt")
    with AppState.of(request).db.write() as conn:
        old = AGENTS.get_by_external(conn, who.org_id, external_id)
        values = {**_product_values(body, old), "external_id": external_id}
        row, _created = AGENTS.upsert(conn, who.org_id, values)
    return paid_product(row)


@both_slashes(router, "GET", "/products/", response_model=Page)
def list_products(
    request: Request, limit: Limit = 50, offset: Offset = 0, name: str | None = None
) -> Page:
    who = principal(request, "read")
    with AppState.of(request).db.read() as conn:
        rows, total = _listing(conn, agents, who.org_id, limit, offset, name=name)
    return page_of([paid_product(r).model_dump(by_alias=True) for r in rows], limit, offset, total)


def _product_routes(path: str, external: bool) -> None:
    @router.get(path, response_model=ProductOut, name=f"get_product{'_ext' * external}")
    def get(ref: str, request: Request) -> ProductOut:
        who = principal(request, "read")
        with AppState.of(request).db.read() as conn:
            return paid_product(_one(AGENTS, conn, who.org_id, ref, external))

    @router.put(path, response_model=ProductOut, name=f"update_product{'_ext' * external}")
    def put(ref: str, body: ProductIn, request: Request) -> ProductOut:
        who = principal(request, "admin")
        with AppState.of(request).db.write() as conn:
            old = _one(AGENTS, conn, who.org_id, ref, external)
            row = AGENTS.update(conn, who.org_id, old["id"], _product_values(body, old))
        return paid_product(row or old)


_product_routes("/products/external/{ref}", True)
_product_routes("/products/{ref}", False)


# -- contacts ---------------------------------------------------------------------------------


def _contact(record: dict[str, Any]) -> ContactOut:
    doc = record["doc"]
    return ContactOut(
        id=record["id"],
        customer_id=record["parent_id"],
        first_name=doc.get("firstName") or "",
        last_name=doc.get("lastName") or "",
        email=doc.get("email") or "",
        phone=doc.get("phone"),
        billing_address=doc.get("billingAddress"),
        external_id=record["external_id"],
        roles=doc.get("roles") or [],
        created_at=isoformat(record["created_at"]),
        updated_at=isoformat(record["updated_at"]),
    )


@both_slashes(router, "POST", "/contacts/", response_model=ContactOut)
def create_contact(body: ContactIn, request: Request) -> ContactOut:
    who = principal(request, "admin")
    if not body.customer_id or not body.email:
        field = "customerId" if not body.customer_id else "email"
        raise Problem(422, f"{field}: required", field=field)
    doc = body.model_dump(by_alias=True, exclude_none=True, exclude={"customer_id", "external_id"})
    with AppState.of(request).db.write() as conn:
        _one(CUSTOMERS, conn, who.org_id, body.customer_id, False)
        record = Records(conn, who.org_id, CONTACT).create(
            doc, parent_id=body.customer_id, external_id=body.external_id
        )
    return _contact(record)


@both_slashes(router, "GET", "/contacts/", response_model=Page)
def list_contacts(request: Request, limit: Limit = 50, offset: Offset = 0) -> Page:
    who = principal(request, "read")
    with AppState.of(request).db.read() as conn:
        records, total = Records(conn, who.org_id, CONTACT).page(limit, offset)
    data = [_contact(r).model_dump(by_alias=True) for r in records]
    return page_of(data, limit, offset, total)


def _contact_routes(path: str, external: bool) -> None:
    def found(records: Records, ref: str) -> dict[str, Any]:
        record = records.get(ref, external=external)
        if record is None:
            raise Problem(404, f"no contact '{ref}'", field="externalId" if external else "id")
        return record

    @router.get(path, response_model=ContactOut, name=f"get_contact{'_ext' * external}")
    def get(ref: str, request: Request) -> ContactOut:
        who = principal(request, "read")
        with AppState.of(request).db.read() as conn:
            return _contact(found(Records(conn, who.org_id, CONTACT), ref))

    @router.put(path, response_model=ContactOut, name=f"update_contact{'_ext' * external}")
    def put(ref: str, body: ContactIn, request: Request) -> ContactOut:
        who = principal(request, "admin")
        changes = body.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)
        changes.pop("customerId", None)
        changes.pop("externalId", None)
        with AppState.of(request).db.write() as conn:
            records = Records(conn, who.org_id, CONTACT)
            record = found(records, ref)
            return _contact(records.update(record["id"], {**record["doc"], **changes}))

    @router.delete(path, response_model=Empty, name=f"delete_contact{'_ext' * external}")
    def delete(ref: str, request: Request) -> Empty:
        who = principal(request, "admin")
        with AppState.of(request).db.write() as conn:
            records = Records(conn, who.org_id, CONTACT)
            records.delete(found(records, ref)["id"])
        return Empty()


_contact_routes("/contacts/external/{ref}", True)
_contact_routes("/contacts/{ref}", False)
