"""Reconciliation (issue #14, "What must be shown"): generated worlds of customers and
agents in every tracking mode, plans with every charge model, orders starting and ending
mid-month (and mid-hour), outcomes, AI costs, manual costs, cost meters and usage events over
three months across month boundaries and DST, some months finalized before late signals
arrive. For every customer, month and currency:

- invoice total == margin-report revenue == overview revenue (and "not tracked" exactly
  where the modes say so);
- report cost, per source, == the sum of the customer's cost facts as generated.

Invoices count signals one by one; reports read the rollups: this also holds the two paths
to the same numbers. Seeded random, in process (services, not HTTP), on both stores.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from margin._calendar import month_bounds
from margin._money import from_nanos, to_nanos
from margin._time import isoformat, parse_timestamp, to_micros
from margin.billing import invoices
from margin.billing.meters import MeterIn, create_meter
from margin.billing.orders import OrderIn, create_order
from margin.billing.plans import PlanIn, create_plan
from margin.pricing import Pricer
from margin.reports.facts import Filters
from margin.reports.overview import overview
from margin.reports.tables import build_table
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.keys import create_org

MONTHS = ["2025-10", "2025-11", "2025-12"]
MODES = ["auto", "full", "cost_only", "revenue_only"]
WORLDS, CUSTOMERS_PER_WORLD = 3, 24
# Instants where things go wrong: month edges, DST changes (Europe 2025-10-26, US 2025-11-02).
EDGES = [
    "2025-10-01T00:00:00Z",
    "2025-10-26T00:59:59.999999Z",
    "2025-10-26T01:00:00Z",
    "2025-10-31T23:59:59.999999Z",
    "2025-11-01T00:00:00Z",
    "2025-11-02T06:30:00Z",
    "2025-11-30T23:00:00Z",
    "2025-12-01T00:00:00.000001Z",
    "2025-12-31T23:59:59Z",
]
METERS = [
    {"key": "units", "event_type": "use", "aggregation": "sum", "value_property": "$.n"},
    {"key": "calls", "event_type": "call", "aggregation": "count"},
    {"key": "seats", "event_type": "seat", "aggregation": "max", "value_property": "$.n"},
    {"key": "deal", "event_type": "deal", "aggregation": "sum", "value_property": "$.value"},
    {
        "key": "sms_cost",
        "event_type": "sms",
        "aggregation": "sum",
        "value_property": "$.amount",
        "kind": "cost",
        "unit_cost": "1",
        "currency": "USD",
    },
    {
        "key": "call_cost",
        "event_type": "call",
        "aggregation": "count",
        "kind": "cost",
        "unit_cost": "0.0023",
        "currency": "USD",
    },
]
_TIERS = [
    {"up_to": "10", "unit_price": "0"},
    {"up_to": "50", "unit_price": "0.05", "flat_fee": "1"},
    {"up_to": None, "unit_price": "0.02"},
]
PLANS = [
    {
        "key": "basic",
        "agent": "a-full",
        "currency": "USD",
        "outcomes": [
            {"event_name": "meeting", "price": "25"},
            {"event_name": "email", "price": "0.004"},
            {"event_name": "refund", "price": "-5"},
        ],
        "fees": [{"key": "seat", "amount": "99.99"}],
        "minimum": "150",
    },
    {
        "key": "usage",
        "currency": "USD",
        "outcomes": [{"event_name": "task", "price": "1.5"}],
        "fees": [{"key": "annual", "amount": "1200", "interval": "yearly"}],
        "usage": [
            {"key": "u", "meter": "units", "model": "per_unit", "unit_price": "0.013"},
            {"key": "g", "meter": "calls", "model": "graduated", "tiers": _TIERS},
            {"key": "v", "meter": "units", "model": "volume", "tiers": _TIERS},
            {
                "key": "p",
                "meter": "calls",
                "model": "package",
                "package_size": "7",
                "package_price": "2.5",
            },
            {
                "key": "d",
                "meter": "deal",
                "model": "percentage",
                "rate": "2.5",
                "min_per_event": "0.5",
                "max_per_event": "40",
            },
        ],
    },
    {
        "key": "seats",
        "agent": "a-auto",
        "currency": "EUR",
        "outcomes": [{"event_name": "meeting", "price": "20"}],
        "fees": [{"key": "base", "amount": "49"}],
        "usage": [{"key": "s", "meter": "seats", "model": "per_unit", "unit_price": "9"}],
    },
    {
        "key": "rev",
        "agent": "a-rev",
        "currency": "USD",
        "outcomes": [{"event_name": "meeting", "price": "30"}],
        "fees": [{"key": "f", "amount": "10"}],
    },
    {
        "key": "pilot",
        "agent": "a-cost",
        "currency": "USD",
        "outcomes": [{"event_name": "meeting", "price": "10"}],
        "fees": [{"key": "f", "amount": "500"}],
    },
]
EVENTS = ["meeting", "meeting", "email", "refund", "task", "task", "other"]
AGENT_MODES = {"a-auto": "auto", "a-full": "full", "a-cost": "cost_only", "a-rev": "revenue_only"}


def _iso(ts: int) -> str:
    return isoformat(ts)


def _at(rng: random.Random) -> int:
    if rng.random() < 0.15:
        return to_micros(parse_timestamp(rng.choice(EDGES)))
    lo, hi = month_bounds(MONTHS[0])[0], month_bounds(MONTHS[-1])[1]
    return rng.randrange(lo, hi)


@dataclass
class World:
    """One organization's generated facts, and what its cost facts add up to."""

    org_id: str
    modes: dict[str, str] = field(default_factory=dict)  # customer id → mode
    externals: dict[str, str] = field(default_factory=dict)  # customer id → external id
    ordered: set[str] = field(default_factory=set)
    # (customer id, month, currency, source) → nanos of cost facts
    costs: dict[tuple[str, str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    costed: set[str] = field(default_factory=set)


def _month(ts: int) -> str:
    for month in MONTHS:
        lo, hi = month_bounds(month)
        if lo <= ts < hi:
            return month
    raise AssertionError(ts)


def _build(db: Database, ledger: Ledger, seed: int) -> World:
    rng = random.Random(seed)
    with db.write() as conn:
        world = World(create_org(conn, f"world-{seed}"))
        org = world.org_id
        for external, mode in AGENT_MODES.items():
            AGENTS.upsert(conn, org, {"external_id": external, "tracking_mode": mode})
        for meter in METERS:
            create_meter(conn, org, MeterIn.model_validate(meter))
        for plan in PLANS:
            create_plan(conn, org, PlanIn.model_validate(plan))
        for n in range(CUSTOMERS_PER_WORLD):
            mode = MODES[n % len(MODES)] if n < 20 else "auto"
            row, _ = CUSTOMERS.upsert(conn, org, {"external_id": f"c{n}", "tracking_mode": mode})
            world.modes[row["id"]], world.externals[row["id"]] = mode, f"c{n}"
            if n in (20, 21):  # auto customers nothing can bill
                continue
            for plan in rng.sample(PLANS, rng.randint(1, 3)):
                start = _at(rng) if rng.random() < 0.5 else month_bounds(MONTHS[0])[0] - 86_400e6
                end = None
                if rng.random() < 0.4:
                    end = int(start) + rng.randrange(3_600_000_000, 80 * 86_400_000_000)
                body = {
                    "customer": f"c{n}",
                    "plan": plan["key"],
                    "starts_at": _iso(int(start)),
                    "ends_at": None if end is None else _iso(end),
                }
                create_order(conn, org, OrderIn.model_validate(body))
                world.ordered.add(row["id"])
    signals, costs, events = [], [], []
    agents = [*AGENT_MODES, None]
    for external in world.externals.values():
        quiet = external == "c21"  # an auto customer with no order and no cost
        for _ in range(rng.randint(8, 30)):
            ts, agent = _at(rng), rng.choice(agents)
            trace = f"{rng.getrandbits(128):032x}"
            signals.append(
                {
                    "event_name": rng.choice(EVENTS),
                    "customer": external,
                    "agent": agent,
                    "timestamp": _iso(ts),
                    "trace_id": trace,
                    "cost_tracing": True,
                }
            )
            if quiet:
                continue
            for _ in range(rng.randint(0, 2)):
                amount = Decimal(rng.randint(1, 90_000)) / 10**7
                model = rng.random() < 0.75
                costs.append(
                    {
                        "customer": external,
                        "agent": agent,
                        "trace_id": trace if rng.random() < 0.6 else None,
                        "amount": str(amount),
                        "currency": "USD",
                        "provider": "openai" if model else "twilio",
                        "model": "gpt-4o" if model else None,
                        "timestamp": _iso(_at(rng)),
                    }
                )
        for _ in range(0 if quiet else rng.randint(2, 8)):
            kind = rng.choice(["use", "call", "seat", "deal", "sms"])
            value = {
                "use": {"n": rng.randint(1, 40)},
                "call": {},
                "seat": {"n": rng.randint(1, 12)},
                "deal": {"value": str(Decimal(rng.randint(1, 400_000)) / 100)},
                "sms": {"amount": str(Decimal(rng.randint(1, 500)) / 10**4)},
            }[kind]
            events.append(
                {"type": kind, "customer": external, "timestamp": _iso(_at(rng)), "data": value}
            )
    for batch, ingest in ((costs, ledger.ingest_costs), (events, ledger.ingest_events)):
        assert ingest(world.org_id, batch).ingested == len(batch)
    assert ledger.ingest_signals(world.org_id, signals).ingested == len(signals)
    ids = {ext: cid for cid, ext in world.externals.items()}
    for cost in costs:
        if AGENT_MODES.get(cost["agent"] or "") == "revenue_only":
            continue
        ts = to_micros(parse_timestamp(cost["timestamp"]))
        source = "ai" if cost["model"] else "manual"
        key = (ids[cost["customer"]], _month(ts), "USD", source)
        world.costs[key] += to_nanos(Decimal(cost["amount"]))
        world.costed.add(ids[cost["customer"]])
    for event in events:
        ts = to_micros(parse_timestamp(event["timestamp"]))
        cid = ids[event["customer"]]
        if event["type"] == "sms":
            world.costs[(cid, _month(ts), "USD", "meter")] += to_nanos(
                Decimal(event["data"]["amount"])
            )
            world.costed.add(cid)
        elif event["type"] == "call":
            world.costs[(cid, _month(ts), "USD", "meter")] += to_nanos(Decimal("0.0023"))
            world.costed.add(cid)
    return world


def _late(db: Database, ledger: Ledger, world: World, seed: int) -> None:
    """Finalize October for half the customers, then let October signals arrive late."""
    rng = random.Random(seed + 1)
    with db.write() as conn:
        for draft in invoices.generate(conn, world.org_id, MONTHS[0]):
            if rng.random() < 0.7:
                invoices.finalize(conn, world.org_id, draft["id"])
    late = [
        {
            "event_name": rng.choice(["meeting", "task", "email"]),
            "customer": world.externals[cid],
            "agent": rng.choice(["a-full", "a-auto", None]),
            "timestamp": _iso(rng.randrange(*month_bounds(MONTHS[0]))),
        }
        for cid in world.externals
        for _ in range(rng.randint(1, 4))
    ]
    assert ledger.ingest_signals(world.org_id, late).ingested == len(late)


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def test_invoices_reports_and_overview_agree(db: Database, tmp_path: Any) -> None:
    ledger = Ledger(db, Pricer(db), Settings(data_dir=tmp_path))
    cases = 0
    for seed in range(WORLDS):
        world = _build(db, ledger, 1000 + seed)
        _late(db, ledger, world, 1000 + seed)
        org = world.org_id
        billed: dict[tuple[str, str, str], Decimal] = {}
        with db.write() as conn:
            for month in MONTHS:
                invoices.generate(conn, org, month)
            for inv in invoices.list_invoices(conn, org, limit=10_000):
                if inv["status"] != "void":
                    billed[(inv["customer_id"], inv["period"], inv["currency"])] = from_nanos(
                        inv["total_nanos"]
                    )
        with db.read() as conn:
            for month in MONTHS:
                lo, hi = month_bounds(month)
                whole = overview(conn, org, lo, hi, ZoneInfo("UTC"), "UTC", 100)
                seen = {
                    (r["key"]["customer"], r["currency"]): r
                    for r in whole["top_customers"]
                    if r["key"]
                }
                for cid, mode in world.modes.items():
                    rows = build_table(conn, org, lo, hi, [], Filters(customers=[cid]))
                    by_currency = {r["currency"]: r for r in rows}
                    currencies = {c for (c_id, m, c) in billed if (c_id, m) == (cid, month)}
                    currencies |= set(by_currency)
                    for currency in currencies:
                        cases += 1
                        row = by_currency.get(currency)
                        revenue = None if row is None else row["revenue"]
                        invoice = billed.get((cid, month, currency))
                        tracked = mode != "cost_only" and (mode != "auto" or cid in world.ordered)
                        where = (seed, world.externals[cid], mode, month, currency)
                        if not tracked:
                            assert revenue is None, where
                            assert invoice is None, where
                        elif invoice is not None or revenue is not None:
                            assert from_nanos(revenue or 0) == (invoice or 0), where
                            shown = seen[(cid, currency)]["revenue"]
                            assert _money(shown) == from_nanos(revenue or 0), where
                        cost_tracked = mode != "revenue_only" and (
                            mode != "auto" or cid in world.costed
                        )
                        if row is None:
                            continue
                        if not cost_tracked:
                            assert row["cost"] is None, where
                            continue
                        sources = {
                            s: world.costs.get((cid, month, currency, s), 0)
                            for s in ("ai", "manual", "meter")
                        }
                        assert row["sources"] == sources, where
                        assert row["cost"] == sum(sources.values()), where
                # The overview's totals are its customers' rows and its days, exactly.
                for total in whole["totals"]:
                    currency = total["currency"]
                    parts = sum(Decimal(p["amount"]) for p in total["parts"])
                    if total["profit"] is not None:
                        assert parts == Decimal(total["profit"]), (seed, month, currency)
                    days = [s for s in whole["series"] if s["currency"] == currency]
                    for name in ("cost", "revenue"):
                        if total[name] is not None:
                            daily = sum(Decimal(d[name] or 0) for d in days)
                            assert daily == Decimal(total[name]), (seed, month, name)
    assert cases >= 200
