"""A customer's credits in Paid's shapes: ``customers/{id}/credits/balances`` (one pool per
credit currency, with its active grants) and ``customers/{id}/credits/grants`` (grant now),
and their ``customers/external/{externalId}/…`` forms. Service: ``margin.control``.

Margin has no registry of credit currencies: a currency's key is also its id and its name.
A pool's ``available`` is the sum of its grants' (what they have left); usage that outran
every grant is owed and reported beside it as ``overage`` (Margin's balance is
``available − overage``). Quantities go out as JSON numbers, as Paid's client reads them:
whole numbers as integers, others in their shortest decimal form.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy import Connection

from margin._money import format_decimal, from_nanos
from margin._refusal import Refusal
from margin._time import isoformat
from margin.compat._common import CamelModel, principal
from margin.compat.paid.parties import router
from margin.control.credits import balances
from margin.control.grants import GrantIn, create_grant, list_grants
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.directory import CUSTOMERS

__all__ = ["PaidGrantIn", "paid_balances", "paid_number"]

#: Margin's grant fields by the names Paid's request gives them.
_FIELDS = {"currency": "creditCurrencyKey", "effective_at": "startsAt", "expires_at": "expiresAt"}


class PaidGrantIn(CamelModel):
    """Paid's ``CreditGrantCreateRequest``."""

    credit_currency_key: str
    amount: Decimal
    starts_at: str | None = None
    expires_at: str | None = None


def paid_number(nanos: int) -> int | float:
    """A credit amount as Paid's client reads it (its models are floats): whole amounts as
    integers, others in their shortest decimal form."""
    value = from_nanos(nanos)
    return int(value) if value == value.to_integral_value() else float(value)


def _at(micros: int | None) -> str | None:
    return None if micros is None else isoformat(micros)


def _customer(conn: Connection, org_id: str, ref: str, external: bool) -> dict[str, Any]:
    row = (CUSTOMERS.get_by_external if external else CUSTOMERS.get)(conn, org_id, ref)
    if row is None:
        raise Problem(404, f"no customer '{ref}'", field="externalId" if external else "id")
    return dict(row)


def _active(grant: dict[str, Any], now: int) -> bool:
    expires = grant["expires_at"]
    return (
        grant["closed_at"] is None
        and grant["effective_at"] <= now
        and (expires is None or expires > now)
    )


def _paid_grant(grant: dict[str, Any]) -> dict[str, Any]:
    total, available = grant["amount_nanos"], grant["remaining_nanos"]
    rollover = grant["rollover_max_nanos"]
    return {
        "available": paid_number(available),
        "used": paid_number(total - available),
        "total": paid_number(total),
        "rolloverAmount": None if rollover is None else paid_number(rollover),
        "periodStart": _at(grant["effective_at"]),
        "periodEnd": _at(grant["expires_at"]),
        "rolloverEndDate": None,
        "expiresAt": _at(grant["expires_at"]),
        "isInRolloverWindow": False,
    }


def paid_balances(conn: Connection, org_id: str, customer_id: str, now: int) -> dict[str, Any]:
    """Paid's ``CreditBalanceListResponse`` of the customer's balances at ``now``."""
    pools: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for grant in list_grants(conn, org_id, customer_id):
        if _active(grant, now):
            pools[grant["currency"]].append(grant)
    data = []
    for row in balances(conn, org_id, customer_id, now):
        currency, grants = row["currency"], pools.get(row["currency"], [])
        total = sum(g["amount_nanos"] for g in grants)
        available = sum(g["remaining_nanos"] for g in grants)
        ends = [g["expires_at"] for g in grants]
        data.append(
            {
                "creditsCurrencyId": currency,
                "currencyName": currency,
                "currencyKey": currency,
                "available": paid_number(available),
                "used": paid_number(total - available),
                "total": paid_number(total),
                "overage": paid_number(row["overage_nanos"]),
                "periodStart": _at(min((g["effective_at"] for g in grants), default=None)),
                "periodEnd": None if not ends or None in ends else _at(max(ends)),
                "rolloverEndDate": None,
                "recipient": "organization",
                "grants": [_paid_grant(g) for g in grants],
            }
        )
    return {"data": data}


def _grant_in(body: PaidGrantIn, now: int) -> GrantIn:
    if body.amount <= 0 or body.amount.as_tuple().exponent < -6:  # type: ignore[operator]
        raise Problem(
            422, "amount: a positive number of credits, at most 6 decimals", field="amount"
        )
    try:
        return GrantIn(
            currency=body.credit_currency_key,
            amount=str(body.amount),
            effective_at=body.starts_at,
            expires_at=body.expires_at,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _FIELDS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise Problem(422, f"{field}: {first['msg']}", field=field) from None


def _credit_routes(path: str, external: bool) -> None:
    suffix = "_ext" * external

    @router.get(f"{path}/credits/balances", name=f"get_customer_credit_balances{suffix}")
    def get_balances(ref: str, request: Request) -> dict[str, Any]:
        who = principal(request, "read")
        state = AppState.of(request)
        with state.db.read() as conn:
            customer = _customer(conn, who.org_id, ref, external)
            return paid_balances(conn, who.org_id, customer["id"], state.clock())

    @router.post(f"{path}/credits/grants", status_code=201, name=f"grant_customer_credits{suffix}")
    def grant(ref: str, body: PaidGrantIn, request: Request) -> dict[str, Any]:
        who = principal(request, "admin")
        state = AppState.of(request)
        now = state.clock()
        spec = _grant_in(body, now)
        with state.db.write() as conn:
            customer = _customer(conn, who.org_id, ref, external)
            try:
                row = create_grant(conn, who.org_id, customer["id"], spec, now)
            except Refusal as exc:
                field = _FIELDS.get(exc.field, exc.field)
                raise Problem(exc.status, exc.detail, field=field) from None
            if row["effective_at"] > now:
                raise Problem(422, "startsAt: must not be after now", field="startsAt")
        amount = from_nanos(row["amount_nanos"])
        return {
            "created": True,
            "customer": {"id": customer["id"], "externalId": customer["external_id"]},
            "creditCurrency": {"key": row["currency"], "name": row["currency"]},
            "grant": {
                "amount": int(amount),
                "amountDecimal": format_decimal(amount),
                "startsAt": _at(row["effective_at"]),
                "expiresAt": _at(row["expires_at"]),
                "status": "active",
            },
            "createdAt": _at(now),
        }


_credit_routes("/customers/external/{ref}", True)
_credit_routes("/customers/{ref}", False)
