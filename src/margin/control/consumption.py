"""Usage reaching the ledger burns credits, inside the ingest's own write transaction.

The ledger calls ``consume`` with the rollup deltas of the facts the transaction stored
(fresh facts only: a duplicate adds no delta, so a retried ingest burns once), before it
commits. A feature that burns a credit currency takes ``unit_credits`` per signal of its
event name, per unit of money of AI cost in its currency (rounded half-even to the
nano-credit per customer or unit and transaction), or per unit of its meter's value on each
fresh event the meter reads (per event for a ``count`` meter; a ``sum`` meter's value ×
``unit_credits`` is rounded half-even to the nano-credit per event, so a burn does not
depend on how events were batched). Usage attributed to a customer unit (a signal, event or
cost naming one) burns the unit's grants first, then the customer's; every burn's ledger row
names the unit. Burns run in (customer, unit, currency) order, so concurrent ingests lock
accounts in one order and never deadlock.
A burn that spends a balance emits ``entitlement.exhausted``, one that takes it below 10 %
of what was granted ``credits.low``, through the webhook outbox, in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Connection, select

from margin.billing.metering import readings
from margin.billing.meters import MeterStore
from margin.control.credits import available, burn
from margin.control.features import BURNING_AGGREGATIONS
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
                f.c.backed_by.in_(("signals", "ai_cost", "meter")),
            )
        )
    )


def consume(
    conn: Connection,
    org_id: str,
    signal_counts: Mapping[tuple[str, int, str, str, str], int],
    cost_deltas: Mapping[Any, Sequence[int]],
    now: int,
    events: Sequence[Mapping[str, Any]] = (),
    unit_signals: Mapping[tuple[str, str, str], int] | None = None,
    unit_costs: Mapping[tuple[str, str, str], int] | None = None,
) -> None:
    """Burn the credits of the usage in the deltas (``SignalRollup.counts``, ``CostRollup
    .deltas``), the fresh event rows (``customer_id``, ``unit_id``, ``type``, ``data``), and
    the fresh signals and AI cost of units (by customer, unit and event name or currency;
    also in the counts and deltas) of one write transaction."""
    if not signal_counts and not cost_deltas and not events:
        return
    burning = _burning_features(conn, org_id)
    if not burning:
        return
    by_event: dict[str, list[Any]] = defaultdict(list)
    by_currency: dict[str, list[Any]] = defaultdict(list)
    metered: list[Any] = []
    for feature in burning:
        if feature.backed_by == "signals":
            by_event[feature.event_name].append(feature)
        elif feature.backed_by == "meter":
            metered.append(feature)
        else:
            by_currency[feature.currency].append(feature)
    owed: dict[tuple[str, str, str, str], int] = defaultdict(int)
    if events and metered:
        _meter_usage(conn, org_id, metered, events, owed)
    for (_org, _bucket, customer, _agent, event), n in signal_counts.items():
        for feature in by_event.get(event, ()):
            if customer:
                owed[(customer, "", feature.credit_currency, feature.key)] += (
                    n * feature.unit_credits_nanos
                )
    for (customer, unit, event), n in (unit_signals or {}).items():
        for feature in by_event.get(event, ()):  # counted above as the customer's: move them
            credits = n * feature.unit_credits_nanos
            owed[(customer, "", feature.credit_currency, feature.key)] -= credits
            owed[(customer, unit, feature.credit_currency, feature.key)] += credits
    spent: dict[tuple[str, str, str], int] = defaultdict(int)
    for key, delta in cost_deltas.items():
        customer, currency = key[2], key[7]
        if customer and delta[0] and currency in by_currency:
            spent[(customer, "", currency)] += delta[0]
    for (customer, unit, currency), nanos in (unit_costs or {}).items():
        if currency in by_currency:  # counted above as the customer's: move them
            spent[(customer, "", currency)] -= nanos
            spent[(customer, unit, currency)] += nanos
    for (customer, unit, currency), nanos in spent.items():
        for feature in by_currency[currency]:
            credits = Decimal(nanos) * feature.unit_credits_nanos / _NANOS
            owed[(customer, unit, feature.credit_currency, feature.key)] += int(
                credits.to_integral_value(rounding=ROUND_HALF_EVEN)
            )
    for (customer, unit, currency, key), amount in sorted(owed.items()):
        if amount <= 0:
            continue
        ref = f"feature:{key}"
        after = burn(conn, org_id, customer, currency, amount, now, ref=ref, unit_id=unit)
        _announce(conn, org_id, (customer, unit, currency, key), after, amount, now)


@dataclass(frozen=True)
class _Event:
    """The part of a fresh event row a meter reads."""

    customer_id: str | None
    unit_id: str
    data: Any


def _meter_usage(
    conn: Connection,
    org_id: str,
    metered: list[Any],
    rows: Sequence[Mapping[str, Any]],
    owed: dict[tuple[str, str, str, str], int],
) -> None:
    """Add to ``owed`` what the events cost in credits of the meter-backed features."""
    store = MeterStore(conn, org_id)
    for feature in metered:
        meter = store.get(feature.meter_key)
        if meter is None or meter["aggregation"] not in BURNING_AGGREGATIONS:
            continue  # deleted or replaced since the feature was made: nothing to burn by
        read = [
            _Event(row["customer_id"], row.get("unit_id") or "", row["data"])
            for row in rows
            if row["type"] == meter["event_type"] and row["customer_id"]
        ]
        for event, _raw, number in readings(meter, read):
            if meter["aggregation"] == "count":
                credits = feature.unit_credits_nanos
            else:
                exact = (number or Decimal(0)) * feature.unit_credits_nanos
                credits = int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))
            key = (event.customer_id, event.unit_id, feature.credit_currency, feature.key)
            owed[key] += credits


def _announce(
    conn: Connection,
    org_id: str,
    what: tuple[str, str, str, str],
    after: int,
    spent: int,
    now: int,
) -> None:
    """``entitlement.exhausted`` when a burn spends the balance; ``credits.low`` when it takes
    the balance below ``LOW_SHARE`` of what the active grants gave (each on the crossing).
    For a unit's usage, the balance is what the unit may spend: its grants and the customer's."""
    customer, unit, currency, key = what
    before = after + spent
    data = {
        "customer_id": customer,
        "feature": key,
        "credit_currency": currency,
        "balance": render_quantity(after),
    }
    if unit:
        data["unit_id"] = unit
    if after <= 0 < before:
        emit(conn, org_id, "entitlement.exhausted", data, now)
        return
    _balance, granted = available(conn, org_id, customer, currency, now, unit)
    low = granted * LOW_SHARE // 100
    if after < low <= before:
        emit(conn, org_id, "credits.low", {**data, "granted": render_quantity(granted)}, now)
