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
from margin._time import now_micros
from margin.billing.credit_prices import credit_priced, read_credit_balances
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
from margin.store.archived import ArchivedRange, archived_months
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
    credits_at: int | None = None,
    field: str = "period",
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
    recorded facts without storing anything. Outcomes paid in a credit currency are rated
    against the balances in force at ``credits_at`` (default: now), each period alike.

    Periods reaching an archived month are refused (``ArchivedRange`` naming ``field``) when
    their rating needs raw facts there: exact counts, the AI cost behind lines, metering
    events, or signals of an hour a cut falls inside."""
    if not periods:
        return []
    lo, hi = month_bounds(periods[0])[0], month_bounds(periods[-1])[1]
    wanted = None if customer_ids is None else set(customer_ids)
    held: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for order in load_orders(conn, org_id) if orders is None else orders:
        if order["starts_at"] < hi and (wanted is None or order["customer_id"] in wanted):
            held[order["customer_id"]].append(order)
    rated = {c: o for c, o in held.items() if o[0]["customer_mode"] != "cost_only"}
    edges = {lo, hi, *(month_bounds(p)[1] for p in periods), *cuts}
    edges.update(e for os in held.values() for o in os for e in (o["starts_at"], o["ends_at"]))
    edges.discard(None)
    if counts is None and not rated:
        return []
    scope = sorted(rated) if counts is None else customer_ids
    archived = archived_months(conn, lo, hi)
    if archived and (exact or (with_costs and rated)):
        raise ArchivedRange(field, archived)
    outcomes = read_outcomes(
        conn, org_id, scope, lo, hi, edges, exact=exact, archived=archived, field=field
    )
    if counts is not None:
        counts.update(outcomes)
    if not rated:
        return []
    reader = _Reader(conn, org_id, rated, lo, hi, with_costs, finals)
    if archived and reader.types:
        raise ArchivedRange(field, archived)
    reader.read_credits(rated, now_micros() if credits_at is None else credits_at)
    modes = read_agent_modes(conn, org_id) if agent_modes is None else agent_modes
    starts = [month_bounds(period)[0] for period in periods]
    out: list[PeriodLines] = []
    for customer_id, customer_orders in sorted(rated.items()):
        per_period: dict[str, Counts] = defaultdict(dict)
        for key, n in outcomes[customer_id].items():
            per_period[periods[bisect_right(starts, key[0]) - 1]][key] = n
        frozen = reader.frozen(customer_id)
        marks: dict[str, dict[str, int]] = defaultdict(dict)
        for (period, currency), invoice in frozen.items():
            marks[currency][period] = invoice["as_of"]
        party = {"id": customer_id, "tracking_mode": customer_orders[0]["customer_mode"]}
        for period in periods:
            facts = reader.facts(customer_id, period, per_period[period], edges)
            lines = rate_period(
                period, party, customer_orders, facts, marks=marks, agent_modes=modes
            )
            for currency in sorted(set(lines) | {c for (p, c) in frozen if p == period}):
                final = frozen.get((period, currency))
                found = lines.get(currency, [])
                if final is not None:
                    found = _frozen(final, found, month_bounds(period)[0])
                invoice_id = None if final is None else final["id"]
                out.append(PeriodLines(customer_id, period, currency, found, invoice_id))
    return out


class _Reader:
    """The facts of the rated customers that are read once for all of them: metering
    events, meters, finalized invoices and late signals."""

    def __init__(
        self,
        conn: Connection,
        org_id: str,
        rated: Mapping[str, list[dict[str, Any]]],
        lo: int,
        hi: int,
        with_costs: bool,
        finals: list[dict[str, Any]] | None,
    ) -> None:
        self.conn, self.org_id, self.with_costs = conn, org_id, with_costs
        ids = sorted(rated)
        usage = [c for os in rated.values() for o in os for c in o["charges"]["usage"]]
        self.meters = {m["key"]: m for m in MeterStore(conn, org_id).list()} if usage else {}
        self.types = {
            self.meters[c["meter"]]["event_type"] for c in usage if c["meter"] in self.meters
        }
        self.events = read_events(conn, org_id, ids, self.types, lo, hi) if self.types else {}
        self.finals: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for invoice in finalized_invoices(conn, org_id, ids) if finals is None else finals:
            self.finals[invoice["customer_id"]].append(invoice)
        self.credits: dict[str, dict[str, int]] = {}
        self.late = (
            read_late(conn, org_id, list(self.finals), hi, with_costs=with_costs)
            if self.finals
            else {}
        )

    def read_credits(self, rated: Mapping[str, list[dict[str, Any]]], now: int) -> None:
        """The balances that pay credit-priced outcomes, when some order has one."""
        wanted = credit_priced(o for os in rated.values() for o in os)
        if wanted:
            self.credits = read_credit_balances(self.conn, self.org_id, rated, wanted, now)

    def frozen(self, customer_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The customer's finalized invoices by (period, currency)."""
        return {(i["period"], i["currency"]): i for i in self.finals.get(customer_id, [])}

    def facts(
        self, customer_id: str, period: str, counts: Counts, edges: Iterable[int]
    ) -> PeriodFacts:
        lo, hi = month_bounds(period)
        attributed = None
        if self.with_costs:
            attributed = read_outcome_costs(self.conn, self.org_id, customer_id, lo, hi, edges)
        return PeriodFacts(
            outcomes=counts,
            outcome_costs=attributed,
            late=self.late.get(customer_id, []),
            events={t: self.events.get((customer_id, t), []) for t in self.types},
            meters=self.meters,
            credits=self.credits.get(customer_id, {}),
        )
