"""Re-pricing stored costs (after a catalog upgrade or an override change), keeping the hourly
and daily cost rollups consistent in the same transaction; or, as a dry run, only saying what
would change (per cost, and per customer and currency with ``by_customer``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, insert, literal_column, select, update

from margin._ids import new_id
from margin._money import from_nanos, to_nanos
from margin._time import now_micros
from margin.pricing.pricer import Pricer
from margin.store.archived import refuse_archived
from margin.store.rollups import CostRollup, cost_key
from margin.store.schema import cost_repricings, costs, customers, signals

__all__ = ["CustomerChange", "Repriced", "by_customer", "priced_count", "reprice"]


class Repriced(NamedTuple):
    """One cost whose price changed."""

    cost_id: str
    old_amount: Decimal | None
    new_amount: Decimal | None
    #: The customer's external id (None for a cost of no customer), and both currencies.
    customer: str | None = None
    old_currency: str | None = None
    new_currency: str | None = None


class CustomerChange(NamedTuple):
    """What re-pricing changes for one customer in one currency (exact amounts)."""

    customer: str | None
    currency: str
    costs: int
    old: Decimal
    new: Decimal

    @property
    def change(self) -> Decimal:
        return self.new - self.old


def by_customer(changed: list[Repriced]) -> list[CustomerChange]:
    """The changes per customer and currency, sorted by customer. A cost that moves from
    one currency to another counts out of the old one and into the new one, so no sum mixes
    currencies (it is counted once, in the new one); an unpriced amount counts as nothing."""
    acc: dict[tuple[str, str], list[Any]] = {}
    for c in changed:
        for currency, amount, index in (
            (c.old_currency, c.old_amount, 1),
            (c.new_currency, c.new_amount, 2),
        ):
            if currency is not None:
                entry = acc.setdefault((c.customer or "", currency), [0, Decimal(0), Decimal(0)])
                entry[index] += amount or 0
        home = c.new_currency or c.old_currency  # a cost counts where it is priced now
        if home is not None:
            acc[(c.customer or "", home)][0] += 1
    return [
        CustomerChange(customer or None, currency, n, old, new)
        for (customer, currency), (n, old, new) in sorted(acc.items())
    ]


def priced_count(
    conn: Any, org_id: str, start_us: int, end_us: int, model: str | None = None
) -> int:
    """How many costs in ``[start_us, end_us)`` are priced (by the catalog or an override):
    the ones only ``only_unpriced=False`` re-prices."""
    query = select(func.count()).where(
        costs.c.org_id == org_id,
        costs.c.ts >= start_us,
        costs.c.ts < end_us,
        costs.c.priced_by.in_(("catalog", "override")),
    )
    if model is not None:
        query = query.where(costs.c.model == model)
    return int(conn.execute(query).scalar_one())


def reprice(
    db: Any,
    pricer: Pricer,
    org_id: str,
    start_us: int,
    end_us: int,
    model: str | None = None,
    only_unpriced: bool = True,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Repriced]:
    """Re-price the organization's costs with ``ts`` in ``[start_us, end_us)`` (optionally one
    model; by default only ``unpriced`` ones). Costs the caller provided are never touched.
    Returns the costs whose amount, currency or pricing source changed, and keeps what
    each had in ``cost_repricings`` (a refreshed
    ``price_ref``/``unpriced_reason`` alone is stored but not reported). With ``dry_run``
    nothing is written and the same list says what would change. ``progress(done, total)``
    is called as costs are priced. A range reaching an archived month is refused (field
    ``from``): its costs are no longer in the store to re-price."""
    query = (
        select(costs, signals.c.event_name, customers.c.external_id.label("customer_ref"))
        .select_from(
            costs.outerjoin(signals, signals.c.id == costs.c.signal_id).outerjoin(
                customers, customers.c.id == costs.c.customer_id
            )
        )
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
    with db.read() if dry_run else db.write() as conn:
        refuse_archived(conn, start_us, end_us, "from")
        rows = conn.execute(query).all()
        for done, row in enumerate(rows, 1):
            if progress is not None and (done % 200 == 0 or done == len(rows)):
                progress(done, len(rows))
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
            old_amount = None if row.amount_nanos is None else from_nanos(row.amount_nanos)
            new_amount = None if new_nanos is None else from_nanos(new_nanos)
            repriced = Repriced(
                row.id, old_amount, new_amount, row.customer_ref, row.currency, result.currency
            )
            if dry_run:
                if old != new:
                    changed.append(repriced)
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
            changed.append(repriced)
        if dry_run:
            return changed
        rollup.flush(conn)
        if history:
            conn.execute(insert(cost_repricings), history)
    return changed
