"""Re-pricing stored costs (after a catalog upgrade or an override change), keeping the hourly
and daily cost rollups consistent in the same transaction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import insert, literal_column, select, update

from margin._ids import new_id
from margin._money import from_nanos, to_nanos
from margin._time import now_micros
from margin.pricing.pricer import Pricer
from margin.store.rollups import CostRollup, cost_key
from margin.store.schema import cost_repricings, costs, signals

__all__ = ["Repriced", "reprice"]


class Repriced(NamedTuple):
    """One cost whose price changed."""

    cost_id: str
    old_amount: Decimal | None
    new_amount: Decimal | None


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
    Returns the costs whose amount, currency or pricing source changed, and keeps what
    each had in ``cost_repricings`` (a refreshed
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
        # A literal, so that the partial index of unpriced costs can serve the query.
        query = query.where(costs.c.priced_by == literal_column("'unpriced'"))
    else:
        query = query.where(costs.c.priced_by != "provided")
    changed: list[Repriced] = []
    rollup = CostRollup()
    history: list[dict[str, Any]] = []
    now = now_micros()
    with db.write() as conn:
        for row in conn.execute(query).all():
            result = pricer.price(
                org_id, row.provider, row.model, row.usage or {}, row.ts, row.price_context
            )
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
            dims = (org_id, row.ts, row.customer_id, row.agent_id, row.event_name)
            for nanos, currency, sign in (
                (row.amount_nanos, row.currency, -1),
                (new_nanos, result.currency, 1),
            ):
                rollup.add(cost_key(*dims, row.provider, row.model, currency), nanos, sign)
            history.append(
                {
                    "id": new_id("rpr"),
                    "org_id": org_id,
                    "cost_id": row.id,
                    "old_amount_nanos": row.amount_nanos,
                    "old_currency": row.currency,
                    "old_priced_by": row.priced_by,
                    "old_price_ref": row.price_ref,
                    "new_amount_nanos": new_nanos,
                    "new_currency": result.currency,
                    "new_priced_by": result.priced_by,
                    "new_price_ref": result.price_ref,
                    "repriced_at": now,
                }
            )
            old_amount = None if row.amount_nanos is None else from_nanos(row.amount_nanos)
            new_amount = None if new_nanos is None else from_nanos(new_nanos)
            changed.append(Repriced(row.id, old_amount, new_amount))
        rollup.flush(conn)
        if history:
            conn.execute(insert(cost_repricings), history)
    return changed
