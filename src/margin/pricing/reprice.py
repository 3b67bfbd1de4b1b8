"""Re-pricing stored costs (after a catalog upgrade or an override change), keeping the hourly
cost rollups consistent in the same transaction."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, insert, select, update

from margin._money import from_nanos, to_nanos
from margin.pricing.pricer import Pricer
from margin.store.schema import cost_rollups, costs, signals

__all__ = ["Repriced", "reprice"]

_HOUR_US = 3_600_000_000


class Repriced(NamedTuple):
    """One cost whose price changed."""

    cost_id: str
    old_amount: Decimal | None
    new_amount: Decimal | None


def _rollup_key(row: Any, event_name: str, currency: str) -> tuple[str, ...]:
    return (
        row.org_id,
        row.ts - row.ts % _HOUR_US,
        row.customer_id or "",
        row.agent_id or "",
        event_name,
        row.provider or "",
        row.model or "",
        currency,
    )


def _apply(conn: Connection, deltas: dict[tuple[Any, ...], list[int]]) -> None:
    names = (
        "org_id",
        "bucket",
        "customer_id",
        "agent_id",
        "event_name",
        "provider",
        "model",
        "currency",
    )
    for key, (amount, records, unpriced) in deltas.items():
        if not (amount or records or unpriced):
            continue
        where = and_(*(cost_rollups.c[n] == v for n, v in zip(names, key, strict=True)))
        result = conn.execute(
            update(cost_rollups)
            .where(where)
            .values(
                amount_nanos=cost_rollups.c.amount_nanos + amount,
                records=cost_rollups.c.records + records,
                unpriced=cost_rollups.c.unpriced + unpriced,
            )
        )
        if not result.rowcount:
            values = dict(zip(names, key, strict=True))
            conn.execute(
                insert(cost_rollups).values(
                    **values, amount_nanos=amount, records=records, unpriced=unpriced
                )
            )


def reprice(
    db: Any,
    pricer: Pricer,
    org_id: str,
    start_us: int,
    end_us: int,
    model: str | None = None,
    only_unpriced: bool = True,
) -> list[Repriced]:
    """Re-price the organization's costs with ``ts`` in ``[start_us, end_us)`` (optionally one
    model; by default only ``unpriced`` ones). Costs the caller provided are never touched.
    Returns the costs whose amount, currency or pricing source changed (a refreshed
    ``price_ref``/``unpriced_reason`` alone is stored but not reported)."""
    query = (
        select(costs, signals.c.event_name)
        .select_from(costs.outerjoin(signals, signals.c.id == costs.c.signal_id))
        .where(costs.c.org_id == org_id, costs.c.ts >= start_us, costs.c.ts < end_us)
        .order_by(costs.c.ts, costs.c.id)
    )
    if model is not None:
        query = query.where(costs.c.model == model)
    if only_unpriced:
        query = query.where(costs.c.priced_by == "unpriced")
    else:
        query = query.where(costs.c.priced_by != "provided")
    changed: list[Repriced] = []
    deltas: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    with db.write() as conn:
        for row in conn.execute(query).all():
            result = pricer.price(org_id, row.provider, row.model, row.usage or {}, row.ts)
            new_nanos = None if result.amount is None else to_nanos(result.amount)
            old = (row.amount_nanos, row.currency, row.priced_by)
            new = (new_nanos, result.currency, result.priced_by)
            same_explanation = (row.price_ref, row.unpriced_reason) == (
                result.price_ref,
                result.unpriced_reason,
            )
            if old == new and same_explanation:
                continue
            conn.execute(
                update(costs)
                .where(costs.c.id == row.id)
                .values(
                    amount_nanos=new_nanos,
                    currency=result.currency,
                    priced_by=result.priced_by,
                    price_ref=result.price_ref,
                    unpriced_reason=result.unpriced_reason,
                )
            )
            if old == new:
                continue  # only the explanation changed: nothing to report or roll up
            event_name = row.event_name or ""
            for nanos, currency, sign in (
                (row.amount_nanos, row.currency, -1),
                (new_nanos, result.currency, 1),
            ):
                delta = deltas[_rollup_key(row, event_name, currency)]
                delta[0] += sign * (nanos or 0)
                delta[1] += sign
                delta[2] += sign if nanos is None else 0
            old_amount = None if row.amount_nanos is None else from_nanos(row.amount_nanos)
            new_amount = None if new_nanos is None else from_nanos(new_nanos)
            changed.append(Repriced(row.id, old_amount, new_amount))
        _apply(conn, deltas)
    return changed
