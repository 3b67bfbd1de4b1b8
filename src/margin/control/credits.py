"""Credit grants and balances, in money or in custom credit currencies.

A grant adds ``amount`` to a customer's balance in one currency from ``effective_at`` until
``expires_at``. Consumption burns grants down by priority (lowest number first), then by
earliest expiry (a grant that never expires last), then by age; what no grant covers is
owed (``overage``) and taken from the next grant. Every change of a balance is a row of the
credit ledger with its cause (``grant``, ``usage``, ``expiry``, ``rollover``, ``invoice``,
``void``), so a balance is the sum of its history.

A grant may be given to one of the customer's units: the unit's usage burns the unit's grants
first, then the customer's (what neither covers is the customer's overage); usage of the
customer itself, and invoices, burn only the customer's own. Each ledger row names the unit
whose grant or usage it is (``unit_id``; '' for the customer's own).

Burns lock the customer's account row for the currency first (``FOR UPDATE`` on PostgreSQL;
SQLite has one writer), so concurrent burns queue instead of spending a grant twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from margin._ids import new_id
from margin._time import isoformat
from margin.control._rows import insert_ignore
from margin.control.quantities import render_quantity
from margin.store.schema_control import credit_accounts, credit_grants, credit_ledger

__all__ = [
    "available",
    "balance_of",
    "balances",
    "burn",
    "history",
    "insert_grant",
    "lock_account",
    "record",
    "render_balances",
]

g = credit_grants


def record(
    conn: Connection,
    org_id: str,
    customer_id: str,
    currency: str,
    delta: int,
    cause: str,
    now: int,
    *,
    grant_id: str | None = None,
    ref: str | None = None,
    unit_id: str = "",
) -> None:
    """One row of the credit ledger: a change of a balance and its cause."""
    if delta == 0:
        return
    conn.execute(
        credit_ledger.insert().values(
            id=new_id("crl"),
            org_id=org_id,
            customer_id=customer_id,
            currency=currency,
            grant_id=grant_id,
            delta_nanos=delta,
            cause=cause,
            ref=ref,
            ts=now,
            unit_id=unit_id,
        )
    )


def lock_account(conn: Connection, org_id: str, customer_id: str, currency: str) -> int:
    """Lock the customer's account in ``currency`` for this transaction; its overage."""
    a = credit_accounts
    insert_ignore(
        conn,
        a,
        {"org_id": org_id, "customer_id": customer_id, "currency": currency, "overage_nanos": 0},
    )
    where = and_(a.c.org_id == org_id, a.c.customer_id == customer_id, a.c.currency == currency)
    return int(conn.execute(select(a.c.overage_nanos).where(where).with_for_update()).scalar_one())


def _set_overage(conn: Connection, org_id: str, customer_id: str, currency: str, n: int) -> None:
    a = credit_accounts
    conn.execute(
        update(a)
        .where(a.c.org_id == org_id, a.c.customer_id == customer_id, a.c.currency == currency)
        .values(overage_nanos=n)
    )


def _active(org_id: str, customer_id: str, now: int, units: tuple[str, ...] = ("",)) -> Any:
    return and_(
        g.c.org_id == org_id,
        g.c.customer_id == customer_id,
        g.c.unit_id.in_(units),
        g.c.closed_at.is_(None),
        g.c.effective_at <= now,
        or_(g.c.expires_at.is_(None), g.c.expires_at > now),
    )


def burn(
    conn: Connection,
    org_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    now: int,
    cause: str = "usage",
    ref: str | None = None,
    unit_id: str = "",
) -> int:
    """Take ``amount`` from the customer's grants in burn order (for a unit's usage: the
    unit's grants first, then the customer's); returns the balance after (for a unit: what
    it may still spend)."""
    overage = lock_account(conn, org_id, customer_id, currency)
    units = (unit_id, "") if unit_id else ("",)
    # A unit's own grants first: '' (the customer's) sorts after any unit id.
    order = (
        g.c.unit_id.desc(),
        g.c.priority,
        g.c.expires_at.is_(None),
        g.c.expires_at,
        g.c.created_at,
        g.c.id,
    )
    active = _active(org_id, customer_id, now, units)
    rows = conn.execute(
        select(g.c.id, g.c.remaining_nanos)
        .where(active, g.c.currency == currency, g.c.remaining_nanos > 0)
        .order_by(*order)
    ).all()
    left = amount
    for grant_id, remaining in rows:
        if left <= 0:
            break
        take = min(left, remaining)
        conn.execute(update(g).where(g.c.id == grant_id).values(remaining_nanos=remaining - take))
        record(
            conn,
            org_id,
            customer_id,
            currency,
            -take,
            cause,
            now,
            grant_id=grant_id,
            ref=ref,
            unit_id=unit_id,
        )
        left -= take
    if left > 0:
        _set_overage(conn, org_id, customer_id, currency, overage + left)
        record(conn, org_id, customer_id, currency, -left, cause, now, ref=ref, unit_id=unit_id)
    return int(sum(r for _id, r in rows)) - amount - overage


def insert_grant(
    conn: Connection,
    org_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    now: int,
    fields: dict[str, Any],
    *,
    carried: int = 0,
    cause: str = "grant",
) -> dict[str, Any]:
    """Store a grant (plus ``carried`` rolled over) and settle any overage owed from it. A
    grant to a unit (``fields["unit_id"]``) settles none: the overage is the customer's."""
    overage = lock_account(conn, org_id, customer_id, currency)
    row = {
        "id": new_id("crg"),
        "org_id": org_id,
        "customer_id": customer_id,
        "unit_id": "",
        "currency": currency,
        "amount_nanos": amount,
        "remaining_nanos": amount + carried,
        "parent_id": None,
        "created_at": now,
        "closed_at": None,
        **fields,
    }
    unit = {"grant_id": row["id"], "unit_id": row["unit_id"]}
    record(conn, org_id, customer_id, currency, amount, cause, now, **unit)
    record(conn, org_id, customer_id, currency, carried, "rollover", now, **unit)
    if overage and row["effective_at"] <= now and not row["unit_id"]:
        settle = min(overage, row["remaining_nanos"])
        row["remaining_nanos"] -= settle
        _set_overage(conn, org_id, customer_id, currency, overage - settle)
        # The owed usage was recorded when it happened: this moves it onto the grant.
        record(conn, org_id, customer_id, currency, -settle, "overage", now, grant_id=row["id"])
        record(conn, org_id, customer_id, currency, settle, "overage", now)
    conn.execute(g.insert().values(**row))
    return row


def balances(
    conn: Connection, org_id: str, customer_id: str, now: int, unit_id: str = ""
) -> list[dict[str, Any]]:
    """Per currency: balance (active grants' remaining − overage owed), granted, overage.
    The customer's own grants, or a unit's (which owes no overage: the customer does)."""
    # Summed here, not by SQL: grants may add up past 64 bits, where SQLite's SUM fails (and
    # PostgreSQL's does not); a customer's active grants are few.
    found: dict[str, tuple[int, int]] = {}
    for cur, rem, amt in conn.execute(
        select(g.c.currency, g.c.remaining_nanos, g.c.amount_nanos).where(
            _active(org_id, customer_id, now, (unit_id,))
        )
    ):
        remaining, granted = found.get(cur, (0, 0))
        found[cur] = (remaining + rem, granted + amt)
    a = credit_accounts
    owed = (
        {}
        if unit_id
        else dict(
            conn.execute(
                select(a.c.currency, a.c.overage_nanos).where(
                    a.c.org_id == org_id, a.c.customer_id == customer_id
                )
            ).all()
        )
    )
    out = []
    for currency in sorted(set(found) | set(owed)):
        remaining, granted = found.get(currency, (0, 0))
        overage = int(owed.get(currency, 0))
        out.append(
            {
                "currency": currency,
                "balance_nanos": remaining - overage,
                "granted_nanos": granted,
                "overage_nanos": overage,
            }
        )
    return out


def render_balances(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "currency": r["currency"],
            "balance": render_quantity(r["balance_nanos"]),
            "granted": render_quantity(r["granted_nanos"]),
            "overage": render_quantity(r["overage_nanos"]),
        }
        for r in rows
    ]


def balance_of(conn: Connection, org_id: str, customer_id: str, currency: str, now: int) -> int:
    for item in balances(conn, org_id, customer_id, now):
        if item["currency"] == currency:
            return int(item["balance_nanos"])
    return 0


def available(
    conn: Connection, org_id: str, customer_id: str, currency: str, now: int, unit_id: str = ""
) -> tuple[int, int]:
    """What the customer (or its unit) may still spend in ``currency``, and what the grants
    it may spend gave: a unit spends its own grants and then the customer's."""
    balance = granted = 0
    for unit in (unit_id, "") if unit_id else ("",):
        for item in balances(conn, org_id, customer_id, now, unit):
            if item["currency"] == currency:
                balance += int(item["balance_nanos"])
                granted += int(item["granted_nanos"])
    return balance, granted


def history(
    conn: Connection,
    org_id: str,
    customer_id: str,
    currency: str | None = None,
    limit: int = 500,
    unit_id: str | None = None,
) -> list[dict[str, Any]]:
    """The customer's ledger rows (of its units too), or the rows naming one unit."""
    t = credit_ledger
    stmt = select(t).where(t.c.org_id == org_id, t.c.customer_id == customer_id)
    if currency is not None:
        stmt = stmt.where(t.c.currency == currency)
    if unit_id is not None:
        stmt = stmt.where(t.c.unit_id == unit_id)
    rows = conn.execute(stmt.order_by(t.c.ts, t.c.id).limit(limit))
    return [
        {
            "id": r.id,
            "currency": r.currency,
            "grant_id": r.grant_id,
            "delta": render_quantity(r.delta_nanos),
            "cause": r.cause,
            "ref": r.ref,
            "unit_id": r.unit_id or None,
            "at": isoformat(r.ts),
        }
        for r in rows
    ]
