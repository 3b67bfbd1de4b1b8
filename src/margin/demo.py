"""Demo data: an AI SDR agent selling to a few customers, 30 days of AI calls and outcomes.

Seeded through the services the API calls (``Ledger`` for facts, with fixed idempotency
keys; ``margin.billing`` for the plan and orders), in process: no HTTP, no second app.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from margin.billing.orders import OrderIn, create_order
from margin.billing.plans import PlanIn, create_plan, get_plan
from margin.server.ledger import Ledger
from margin.store.directory import AGENTS
from margin.store.directory import CUSTOMERS as DIRECTORY

__all__ = ["AGENT", "DEMO_CUSTOMERS", "PLAN", "seed_demo"]

#: Items per ingest call while seeding: one progress step each.
_BATCH = 500
AGENT = {"external_id": "ai-sdr", "name": "AI SDR"}
DEMO_CUSTOMERS = [
    {"external_id": "acme", "name": "Acme Corp"},
    {"external_id": "globex", "name": "Globex"},
    {"external_id": "initech", "name": "Initech"},
    # A pilot: its AI cost is tracked, nothing is billed (cost-only tracking).
    {"external_id": "umbrella", "name": "Umbrella Health", "tracking_mode": "cost_only"},
]
#: What the AI SDR sells: outcomes priced per signal, and a platform fee.
PLAN = {
    "key": "sdr-standard",
    "name": "AI SDR — Standard",
    "agent": "ai-sdr",
    "currency": "USD",
    "outcomes": [
        {"event_name": "email_sent", "price": "0.40", "name": "Personalised email sent"},
        {"event_name": "meeting_booked", "price": "30.00", "name": "Meeting booked"},
    ],
    "fees": [
        {"key": "platform", "amount": "199.00", "interval": "monthly", "name": "Platform fee"}
    ],
}
# (provider, model, input tokens range, output tokens range)
_CALLS = [
    ("openai", "gpt-4o-mini", (8_000, 40_000), (500, 2_000)),
    ("openai", "gpt-4o", (6_000, 30_000), (600, 2_500)),
    ("anthropic", "claude-sonnet-4-5", (10_000, 45_000), (800, 3_000)),
]


def _trace_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def demo_items(
    now: datetime | None = None, days: int = 30
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo's signals and costs (as API items), deterministic for a given ``now``."""
    rng = random.Random(20261001)
    end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    signals: list[dict[str, Any]] = []
    costs: list[dict[str, Any]] = []
    for day in range(days, 0, -1):
        for customer in DEMO_CUSTOMERS:
            volume = {"acme": 6, "globex": 4, "initech": 3, "umbrella": 2}[customer["external_id"]]
            for n in range(rng.randint(volume - 1, volume + 1)):
                at = end - timedelta(days=day, hours=rng.randint(0, 20), minutes=rng.randint(0, 59))
                trace_id = _trace_id(rng)
                ref = f"demo:{customer['external_id']}:{day}:{n}"
                for call in range(rng.randint(2, 4)):
                    provider, model, (ilo, ihi), (olo, ohi) = rng.choice(_CALLS)
                    costs.append(
                        {
                            "customer": customer["external_id"],
                            "agent": AGENT["external_id"],
                            "trace_id": trace_id,
                            "provider": provider,
                            "model": model,
                            "operation": "chat",
                            "usage": {
                                "input_tokens": rng.randint(ilo, ihi),
                                "output_tokens": rng.randint(olo, ohi),
                            },
                            "timestamp": (at + timedelta(seconds=call * 3)).isoformat(),
                            "idempotency_key": f"{ref}:call{call}",
                        }
                    )
                booked = rng.random() < 0.18
                signals.append(
                    {
                        "event_name": "meeting_booked" if booked else "email_sent",
                        "customer": customer["external_id"],
                        "agent": AGENT["external_id"],
                        "trace_id": trace_id,
                        "cost_tracing": True,
                        "timestamp": (at + timedelta(seconds=20)).isoformat(),
                        "data": {"lead": f"lead-{rng.randint(1000, 9999)}"},
                        "idempotency_key": f"{ref}:signal",
                    }
                )
    return signals, costs


def seed_demo(
    ledger: Ledger,
    org_id: str,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Store the demo's customers, agent, plan, orders, signals and costs through the same
    services the API calls (in batches, telling ``progress(done, total)`` after each);
    returns what was ingested."""
    moment = now or datetime.now(UTC)
    start = (moment - timedelta(days=60)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with ledger.db.write() as conn:
        AGENTS.upsert(conn, org_id, AGENT)
        for customer in DEMO_CUSTOMERS:
            DIRECTORY.upsert(conn, org_id, customer)
        fresh = get_plan(conn, org_id, str(PLAN["key"]), missing_ok=True) is None
        if fresh:
            create_plan(conn, org_id, PlanIn.model_validate(PLAN))
        for customer in DEMO_CUSTOMERS if fresh else []:
            if customer.get("tracking_mode") != "cost_only":
                order = {
                    "customer": customer["external_id"],
                    "plan": PLAN["key"],
                    "starts_at": start.isoformat(),
                }
                create_order(conn, org_id, OrderIn.model_validate(order))
    signals, costs = demo_items(moment)
    counts = {"costs": 0, "signals": 0, "duplicates": 0}
    total, done = len(costs) + len(signals), 0
    for kind, items, ingest in (
        ("costs", costs, ledger.ingest_costs),
        ("signals", signals, ledger.ingest_signals),
    ):
        for first in range(0, len(items), _BATCH):
            batch = items[first : first + _BATCH]
            result = ingest(org_id, batch, source="demo")
            counts[kind] += result.ingested
            counts["duplicates"] += result.duplicates
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return counts
