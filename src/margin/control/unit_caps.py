"""A customer unit's cap: at most ``amount`` credits of one credit currency spent per period
by the unit and every unit under it (Paid's customer-unit cap).

Stored on the unit (``control_customer_units.cap``) as ``{amount, frequency,
credit_currency, effective_from, created_at}``: the amount an exact decimal string, the
times µs. A unit has at most one cap: setting one replaces it (Margin keeps no versions).
``MONTHLY`` (Paid's only frequency) periods start at 00:00 UTC on the day of the month of
``effective_from``, clamped to the month's last day, as Paid's are; spend earlier in the
period that holds ``effective_from`` counts. Before ``effective_from`` the cap is scheduled,
not in force.

Spend is what the usage of the subtree burned in the currency (the credit ledger's
``usage`` rows naming those units, overage included), on the current tree: a unit moved
elsewhere counts toward its new ancestors' caps. A check that names a unit (``capped``) is
refused while the unit's cap, or a cap above it, is reached for a feature that burns the
cap's currency. Like balances, this reads committed burns: N agents checking at once may
overshoot by what N-1 of them use.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import Connection, func, select, update

from margin._storable import Quantity, Storable
from margin._time import from_micros, parse_bound, to_micros
from margin.control.errors import ControlError
from margin.control.features import CREDIT_CURRENCY
from margin.control.quantities import parse_quantity, render_quantity
from margin.control.units import ancestors, get_unit, subtree, unit_tree
from margin.store.schema_control import credit_ledger, customer_units

__all__ = ["CapIn", "cap_state", "capped", "end_cap", "period_of", "set_cap"]


class CapIn(Storable):
    amount: Quantity
    currency: Annotated[str, Field(pattern=CREDIT_CURRENCY)]
    frequency: Literal["MONTHLY"] = "MONTHLY"
    effective_from: str | None = None


def set_cap(
    conn: Connection, org_id: str, customer_id: str, ref: str, body: CapIn, now: int
) -> dict[str, Any]:
    """Set (replace) the unit's cap; the unit. 422 naming ``amount`` unless positive."""
    unit = get_unit(conn, org_id, customer_id, ref)
    amount = parse_quantity(body.amount, "amount")
    if amount <= 0:
        raise ControlError(422, "amount: must be positive", "amount")
    effective = now
    if body.effective_from is not None:
        try:
            effective = parse_bound(body.effective_from, "effective_from")
        except ValueError as exc:
            raise ControlError(422, str(exc), "effective_from") from None
    cap = {
        "amount": render_quantity(amount),
        "frequency": body.frequency,
        "credit_currency": body.currency,
        "effective_from": effective,
        "created_at": now,
    }
    conn.execute(update(customer_units).where(customer_units.c.id == unit["id"]).values(cap=cap))
    return {**unit, "cap": cap}


def end_cap(conn: Connection, org_id: str, customer_id: str, ref: str) -> dict[str, Any]:
    """Remove the unit's cap; the cap it had. 404 naming ``cap`` when it has none."""
    unit = get_unit(conn, org_id, customer_id, ref)
    if unit["cap"] is None:
        raise ControlError(404, f"cap: the unit '{ref}' has no cap", "cap")
    conn.execute(update(customer_units).where(customer_units.c.id == unit["id"]).values(cap=None))
    return dict(unit["cap"])


def _month_day(year: int, month: int, day: int) -> int:
    """00:00 UTC of ``day`` in that month, clamped to the month's last day."""
    last = calendar.monthrange(year, month)[1]
    return to_micros(datetime(year, month, min(day, last), tzinfo=UTC))


def period_of(anchor: int, now: int) -> tuple[int, int]:
    """[start, end) of the monthly period anchored on ``anchor``'s day that holds ``now``."""
    day, at = from_micros(anchor).day, from_micros(now)
    year, month = at.year, at.month
    if _month_day(year, month, day) > now:
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return _month_day(year, month, day), _month_day(*nxt, day)


def _spent(
    conn: Connection,
    org_id: str,
    customer_id: str,
    currency: str,
    units: set[str],
    lo: int,
    hi: int,
) -> int:
    t = credit_ledger
    total = conn.execute(
        select(func.coalesce(func.sum(t.c.delta_nanos), 0)).where(
            t.c.org_id == org_id,
            t.c.customer_id == customer_id,
            t.c.currency == currency,
            t.c.cause == "usage",
            t.c.unit_id.in_(sorted(units)),
            t.c.ts >= lo,
            t.c.ts < hi,
        )
    ).scalar_one()
    return -int(total)


def cap_state(
    conn: Connection,
    org_id: str,
    customer_id: str,
    unit_id: str,
    cap: dict[str, Any],
    now: int,
    tree: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """``{start, end, used_nanos, amount_nanos}`` of the cap's current period; None while
    it is scheduled (``effective_from`` after ``now``)."""
    if cap["effective_from"] > now:
        return None
    tree = tree if tree is not None else unit_tree(conn, org_id, customer_id)
    lo, hi = period_of(cap["effective_from"], now)
    used = _spent(conn, org_id, customer_id, cap["credit_currency"], subtree(tree, unit_id), lo, hi)
    amount = parse_quantity(cap["amount"], "amount")
    return {"start": lo, "end": hi, "used_nanos": used, "amount_nanos": amount}


def capped(
    conn: Connection,
    org_id: str,
    customer_id: str,
    unit_id: str,
    feature: dict[str, Any],
    now: int,
    answer: dict[str, Any],
) -> dict[str, Any]:
    """The check's ``answer``, with no access while a cap in force on the unit or a unit
    above it is reached in the credit currency the feature burns."""
    currency = feature.get("credit_currency")
    if not unit_id or currency is None or not answer["has_access"]:
        return answer
    tree = unit_tree(conn, org_id, customer_id)
    for at in ancestors(tree, unit_id):
        cap = tree[at]["cap"]
        if cap is None or cap["credit_currency"] != currency:
            continue
        state = cap_state(conn, org_id, customer_id, at, cap, now, tree)
        if state is not None and state["used_nanos"] >= state["amount_nanos"]:
            return {**answer, "has_access": False}
    return answer
