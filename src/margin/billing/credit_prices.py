"""Outcome prices paid in a credit currency: which signals of a period the customer's credit
balance pays, and the money billed for the rest.

An outcome charge may name ``credit_currency`` and ``credit_price`` (credits per signal) with
an optional ``overage`` (money per signal the balance cannot pay; 0 when absent). A period
is rated against the customer's spendable balance in that currency *now* (its own grants in
force, less any overage it owes; a unit's grants are the unit's): whole signals are paid
while the balance lasts, in the order the rating meets them, and the balance one line spends
is gone for the next line of the same period. Each period of a report is rated against the
same balance, exactly as its draft would be generated now; finalizing an invoice burns the
credits its lines say (``margin.control.invoicing``), so the next period sees what is left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, or_, select

from margin._money import format_decimal, from_nanos, to_nanos
from margin._rounding import round_minor
from margin.billing.lines import Line, Piece
from margin.store.schema_control import credit_accounts, credit_grants

__all__ = ["credit_lines", "credit_priced", "read_credit_balances"]


def credit_priced(orders: Iterable[dict[str, Any]]) -> set[str]:
    """The credit currencies the orders' outcomes are priced in."""
    return {
        o["credit_currency"]
        for order in orders
        for o in order["charges"]["outcomes"]
        if o.get("credit_currency")
    }


def read_credit_balances(
    conn: Connection, org_id: str, customer_ids: Iterable[str], currencies: set[str], now: int
) -> dict[str, dict[str, int]]:
    """Per customer and credit currency, what its own grants in force at ``now`` can still
    pay (nano-credits, never below 0: an overage owed is paid first)."""
    ids = sorted(set(customer_ids))
    if not ids or not currencies:
        return {}
    g, a = credit_grants, credit_accounts
    rows = conn.execute(
        select(g.c.customer_id, g.c.currency, func.sum(g.c.remaining_nanos))
        .where(
            g.c.org_id == org_id,
            g.c.customer_id.in_(ids),
            g.c.unit_id == "",
            g.c.currency.in_(sorted(currencies)),
            g.c.closed_at.is_(None),
            g.c.effective_at <= now,
            or_(g.c.expires_at.is_(None), g.c.expires_at > now),
        )
        .group_by(g.c.customer_id, g.c.currency)
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for customer_id, currency, remaining in rows:
        out[customer_id][currency] = int(remaining)
    owed = conn.execute(
        select(a.c.customer_id, a.c.currency, a.c.overage_nanos).where(
            a.c.org_id == org_id,
            a.c.customer_id.in_(ids),
            a.c.currency.in_(sorted(currencies)),
        )
    )
    for customer_id, currency, overage in owed:
        have = out[customer_id].get(currency, 0)
        out[customer_id][currency] = max(have - int(overage), 0)
    return dict(out)


def credit_lines(
    order: dict[str, Any],
    outcome: dict[str, Any],
    count: int,
    late: str | None,
    pieces: list[Piece],
    costs: dict[str, int] | None,
    pool: dict[str, int],
) -> list[Line]:
    """The lines of ``count`` signals of a credit-priced outcome: those the balance in
    ``pool`` pays (money 0, ``detail.credits`` spent; the pool drops by as much) and, when
    some are left, an overage line in money."""
    currency, event = order["plan"]["currency"], outcome["event_name"]
    credit = outcome["credit_currency"]
    each = to_nanos(Decimal(outcome["credit_price"]))
    have = pool.get(credit, 0)
    paid = count if each == 0 else min(count, have // each)
    pool[credit] = have - paid * each
    tail = f" (late, from {late})" if late else ""
    suffix = f":{late}" if late else ""
    detail = {
        "credit_currency": credit,
        "credit_price": outcome["credit_price"],
        "credits": format_decimal(from_nanos(paid * each)),
    }
    lines = [
        Line(
            "outcome",
            f"outcome:{event}{suffix}",
            f"{event} × {paid} paid in {credit}{tail}",
            currency,
            order["id"],
            Decimal(0),
            Decimal(0),
            Decimal(paid),
            Decimal(0),
            event,
            late,
            detail=detail,
            costs=costs,
            pieces=pieces,
        )
    ]
    left = count - paid
    if left:
        price = Decimal(outcome.get("overage") or 0)
        lines.append(
            Line(
                "outcome",
                f"outcome:{event}:overage{suffix}",
                f"{event} × {left} beyond the {credit} balance{tail}",
                currency,
                order["id"],
                round_minor(price * left, currency),
                price * left,
                Decimal(left),
                price,
                event,
                late,
                detail={"credit_currency": credit, "overage": format_decimal(price)},
                costs=None if costs is None else {},
                pieces=pieces,
            )
        )
    return lines
