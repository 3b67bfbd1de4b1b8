"""Usage reaching the ledger burns credits, inside the ingest's own write transaction.

The ledger calls ``consume`` with the rollup deltas of the facts the transaction stored
(fresh facts only: a duplicate adds no delta, so a retried ingest burns once), before it
commits. A feature that burns a credit currency takes ``unit_credits`` per signal of its
event name, or per unit of money of AI cost in its currency. Burns run in (customer,
currency) order, so concurrent ingests lock accounts in one order and never deadlock.
A burn that spends a balance emits ``entitlement.exhausted``, one that takes it below 10 %
of what was granted ``credits.low``, through the webhook outbox, in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Connection, select

from margin.control.credits import balances, burn
from margin.control.outbox import emit
from margin.control.quantities import render_quantity
from margin.store.schema_control import features

__all__ = ["consume"]

_NANOS = 1_000_000_000
#: ``credits.low`` fires when a balance falls below this share (%) of what was granted.
LOW_SHARE = 10


def _burning_features(conn: Connection, org_id: str) -> list[Any]:
    f = features
    return list(
        conn.execute(
            select(f).where(
                f.c.org_id == org_id,
                f.c.credit_currency.is_not(None),
                f.c.backed_by.in_(("signals", "ai_cost")),
            )
        )
    )


def consume(
    conn: Connection,
    org_id: str,
    signal_counts: Mapping[tuple[str, int, str, str, str], int],
    cost_deltas: Mapping[Any, Sequence[int]],
    now: int,
) -> None:
    """Burn the credits of the usage in the deltas (``SignalRollup.counts``, ``CostRollup
    .deltas``) of one write transaction."""
    if not signal_counts and not cost_deltas:
        return
    burning = _burning_features(conn, org_id)
    if not burning:
        return
    by_event: dict[str, list[Any]] = defaultdict(list)
    by_currency: dict[str, list[Any]] = defaultdict(list)
    for feature in burning:
        if feature.backed_by == "signals":
            by_event[feature.event_name].append(feature)
        else:
            by_currency[feature.currency].append(feature)
    owed: dict[tuple[str, str, str], int] = defaultdict(int)
    for (_org, _bucket, customer, _agent, event), n in signal_counts.items():
        for feature in by_event.get(event, ()):
            if customer:
                owed[(customer, feature.credit_currency, feature.key)] += (
                    n * feature.unit_credits_nanos
                )
    spent: dict[tuple[str, str], int] = defaultdict(int)
    for key, delta in cost_deltas.items():
        customer, currency = key[2], key[7]
        if customer and delta[0] and currency in by_currency:
            spent[(customer, currency)] += delta[0]
    for (customer, currency), nanos in spent.items():
        for feature in by_currency[currency]:
            credits = Decimal(nanos) * feature.unit_credits_nanos / _NANOS
            owed[(customer, feature.credit_currency, feature.key)] += int(
                credits.to_integral_value(rounding=ROUND_HALF_EVEN)
            )
    for (customer, currency, key), amount in sorted(owed.items()):
        if amount <= 0:
            continue
        after = burn(conn, org_id, customer, currency, amount, now, ref=f"feature:{key}")
        _announce(conn, org_id, (customer, currency, key), after, amount, now)


def _announce(
    conn: Connection, org_id: str, what: tuple[str, str, str], after: int, spent: int, now: int
) -> None:
    """``entitlement.exhausted`` when a burn spends the balance; ``credits.low`` when it takes
    the balance below ``LOW_SHARE`` of what the active grants gave (each on the crossing)."""
    customer, currency, key = what
    before = after + spent
    data = {
        "customer_id": customer,
        "feature": key,
        "credit_currency": currency,
        "balance": render_quantity(after),
    }
    if after <= 0 < before:
        emit(conn, org_id, "entitlement.exhausted", data, now)
        return
    granted = next(
        (
            b["granted_nanos"]
            for b in balances(conn, org_id, customer, now)
            if b["currency"] == currency
        ),
        0,
    )
    low = granted * LOW_SHARE // 100
    if after < low <= before:
        emit(conn, org_id, "credits.low", {**data, "granted": render_quantity(granted)}, now)
