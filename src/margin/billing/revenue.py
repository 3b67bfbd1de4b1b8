"""Revenue as billed: the lines of customers' billing periods, read the same way by
invoices and reports.

A period with a finalized invoice (per currency) keeps that invoice's lines: what was billed
does not change. Every other period is rated now (``margin.billing.rating``) from the
store's facts. Lines carry where their amount lies in time (``Line.pieces``); for a frozen
line that is where the same line rated now lies, and the line's start when it has no
counterpart any more.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from margin._calendar import month_bounds
from margin._money import to_nanos
from margin.billing.facts import (
    Counts,
    PeriodFacts,
    read_events,
    read_late,
    read_outcome_costs,
    read_outcomes,
)
from margin.billing.lines import Line, Piece
from margin.billing.meters import MeterStore
from margin.billing.orders import load_orders
from margin.billing.rating import rate_period
from margin.store.schema import agents, invoices

__all__ = ["PeriodLines", "finalized_invoices", "rate_customers", "read_agent_modes"]


@dataclass
class PeriodLines:
    """The lines of one customer, period and currency."""

    customer_id: str
    period: str
    currency: str
    lines: list[Line]
    #: The lines of a finalized invoice (this id), frozen.
    invoice_id: str | None = None


def read_agent_modes(conn: Connection, org_id: str) -> dict[str, str]:
    """Agents not tracked in full, with their mode."""
    rows = conn.execute(
        select(agents.c.id, agents.c.tracking_mode).where(
            agents.c.org_id == org_id, agents.c.tracking_mode != "full"
        )
    )
    return {r.id: r.tracking_mode for r in rows}


def finalized_invoices(
    conn: Connection, org_id: str, customer_ids: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """The finalized invoices of the organization (or of some customers)."""
    stmt = select(invoices).where(invoices.c.org_id == org_id, invoices.c.status == "finalized")
    if customer_ids is not None:
        stmt = stmt.where(invoices.c.customer_id.in_(sorted(set(customer_ids))))
    return [dict(r._mapping) for r in conn.execute(stmt)]


def _frozen(invoice: Mapping[str, Any], rated: list[Line], start: int) -> list[Line]:
    """A finalized invoice's lines, placed where the same lines rated now lie."""
    now = {(line.key, line.order_id): line for line in rated}
    out = []
    for item in invoice["lines"]:
        amount = Decimal(item["amount"])
        match = now.get((item["key"], item["order_id"]))
        cost = item.get("cost")
        currency = invoice["currency"]
        out.append(
            Line(
                item["type"],
                item["key"],
                item["description"],
                currency,
                item["order_id"],
                amount,
                Decimal(item.get("exact_amount") or item["amount"]),
                None if item["quantity"] is None else Decimal(item["quantity"]),
                None if item["unit_price"] is None else Decimal(item["unit_price"]),
                item.get("event_name"),
                item.get("late_from"),
                item.get("tiers") or [],
                item.get("detail") or {},
                None if cost is None else {currency: to_nanos(Decimal(cost))},
                match.pieces if match else [Piece(start, "", item.get("event_name") or "", 1)],
            )
        )
    return out


def rate_customers(
    conn: Connection,
    org_id: str,
    periods: Sequence[str],
    *,
    customer_ids: Iterable[str] | None = None,
    cuts: Iterable[int] = (),
    exact: bool = False,
    with_costs: bool = False,
    agent_modes: Mapping[str, str] | None = None,
    finals: list[dict[str, Any]] | None = None,
    counts: dict[str, Counts] | None = None,
    orders: list[dict[str, Any]] | None = None,
) -> list[PeriodLines]:
    """The lines of every customer with an order (or of ``customer_ids``) for each of the
    consecutive ``periods``. ``cuts`` are times no piece of a line may straddle (a report's
    window bounds); ``exact`` counts signals one by one instead of from the rollups;
    ``with_costs`` adds the AI cost behind each line (what invoices show the seller).

    A caller that already knows them may pass ``agent_modes`` (the agents not tracked in
    full) and ``finals`` (the finalized invoices). ``counts``, when given, is filled with the
    signal counts read (per customer, for every customer in scope, whether it has an order
    or not), so that a report needs to read them only once. ``orders`` replaces the stored
    orders (shaped as ``load_orders`` returns them): candidate plans are rated on the
    recorded facts without storing anything."""
    if not periods:
        return []
    lo, hi = month_bounds(periods[0])[0], month_bounds(periods[-1])[1]
    wanted = None if customer_ids is None else set(customer_ids)
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for order in load_orders(conn, org_id) if orders is None else orders:
        if order["starts_at"] < hi and (wanted is None or order["customer_id"] in wanted):
            by_customer[order["customer_id"]].append(order)
    if not by_customer and counts is None:
        return []
    parties = {
        cid: {"id": cid, "tracking_mode": orders[0]["customer_mode"]}
        for cid, orders in by_customer.items()
        if orders[0]["customer_mode"] != "cost_only"
    }
    ids = sorted(parties)
    edges = {lo, hi, *(month_bounds(p)[1] for p in periods), *cuts}
    for orders in by_customer.values():
        edges.update(e for o in orders for e in (o["starts_at"], o["ends_at"]) if e is not None)
    scope = ids if counts is None else customer_ids
    outcomes = read_outcomes(conn, org_id, scope, lo, hi, edges, exact=exact)
    if counts is not None:
        counts.update(outcomes)
    if not ids:
        return []
    charged = any(o["charges"]["usage"] for orders in by_customer.values() for o in orders)
    meters = {m["key"]: m for m in MeterStore(conn, org_id).list()} if charged else {}
    types = {
        meters[c["meter"]]["event_type"]
        for orders in by_customer.values()
        for o in orders
        for c in o["charges"]["usage"]
        if c["meter"] in meters
    }
    events = read_events(conn, org_id, ids, types, lo, hi) if types else {}
    final_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for invoice in finalized_invoices(conn, org_id, ids) if finals is None else finals:
        final_of[invoice["customer_id"]].append(invoice)
    modes = read_agent_modes(conn, org_id) if agent_modes is None else agent_modes
    starts = [month_bounds(period)[0] for period in periods]
    out: list[PeriodLines] = []
    for customer_id in ids:
        per_period: dict[str, Counts] = defaultdict(dict)
        for key, n in outcomes[customer_id].items():
            per_period[periods[bisect_right(starts, key[0]) - 1]][key] = n
        marks: dict[str, dict[str, int]] = defaultdict(dict)
        frozen: dict[tuple[str, str], dict[str, Any]] = {}
        for invoice in final_of[customer_id]:
            marks[invoice["currency"]][invoice["period"]] = invoice["as_of"]
            frozen[(invoice["period"], invoice["currency"])] = invoice
        late = []
        if frozen:
            since = min(month_bounds(period)[0] for period, _c in frozen)
            after = min(inv["as_of"] for inv in frozen.values())
            late = read_late(conn, org_id, customer_id, since, hi, after, with_costs=with_costs)
        for period in periods:
            p_lo, p_hi = month_bounds(period)
            facts = PeriodFacts(
                outcomes=per_period[period],
                outcome_costs=read_outcome_costs(conn, org_id, customer_id, p_lo, p_hi, edges)
                if with_costs
                else None,
                late=late,
                events={t: events.get((customer_id, t), []) for t in types},
                meters=meters,
            )
            rated = rate_period(
                period,
                parties[customer_id],
                by_customer[customer_id],
                facts,
                marks=marks,
                agent_modes=modes,
            )
            currencies = set(rated) | {c for (p, c) in frozen if p == period}
            for currency in sorted(currencies):
                lines = rated.get(currency, [])
                final = frozen.get((period, currency))
                if final is not None:
                    lines = _frozen(final, lines, p_lo)
                out.append(
                    PeriodLines(
                        customer_id,
                        period,
                        currency,
                        lines,
                        None if final is None else final["id"],
                    )
                )
    return out
