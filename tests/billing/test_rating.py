"""The rating function alone: a pure function of facts and orders (what a pricing simulator
calls), with the rules of docs/billing.md worked by hand, and how a line's amount is split
over its pieces."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from margin._calendar import month_bounds
from margin._rounding import allocate
from margin._time import DAY_US, to_micros
from margin.billing.facts import LateSignal, PeriodFacts
from margin.billing.lines import Line, Piece
from margin.billing.rating import rate_period

Event = namedtuple("Event", "id customer_id ts data")
OCT_LO, OCT_HI = month_bounds("2026-10")
CUSTOMER = {"id": "cus_1", "tracking_mode": "full"}


def _at(day: int, hour: int = 12) -> int:
    return to_micros(datetime(2026, 10, day, hour, tzinfo=UTC))


def _order(charges: dict[str, Any], **extra: Any) -> dict[str, Any]:
    base = {"outcomes": [], "fees": [], "usage": [], "minimum": None}
    return {
        "id": extra.pop("id", "ord_1"),
        "customer_id": "cus_1",
        "starts_at": extra.pop("starts_at", OCT_LO),
        "ends_at": extra.pop("ends_at", None),
        "plan": {"agent_id": extra.pop("agent_id", None), "currency": extra.pop("currency", "USD")},
        "charges": {**base, **charges},
    }


def _lines(rated: dict[str, list[Line]], currency: str = "USD") -> dict[str, Line]:
    return {line.key: line for line in rated[currency]}


def test_day_shares_add_up_and_partial_months_pay_their_days() -> None:
    shares = allocate(30000, [1] * 31)
    assert sum(shares) == 30000
    assert set(shares) == {967, 968}
    order = _order({"fees": [{"key": "f", "amount": "300", "interval": "monthly"}]})
    late_start = {**order, "starts_at": _at(11, 15)}  # any part of the 11th counts
    full = _lines(rate_period("2026-10", CUSTOMER, [order], PeriodFacts()))["fee:f"]
    part = _lines(rate_period("2026-10", CUSTOMER, [late_start], PeriodFacts()))["fee:f"]
    assert full.amount == Decimal("300.00")
    assert part.amount == Decimal("203.23")  # 30000 − ⌊30000·10/31⌋ cents
    assert [p.ts for p in part.pieces][:1] == [OCT_LO + 10 * DAY_US]
    assert sum(units for _p, units in part.shares()) == 20323


def test_outcomes_round_per_line_and_rebates() -> None:
    charges = {
        "outcomes": [
            {"event_name": "email", "price": "0.004"},
            {"event_name": "refund", "price": "-5"},
        ]
    }
    facts = PeriodFacts(
        outcomes={(_at(2), "", "email"): 1001, (_at(3), "", "refund"): 2, (_at(4), "", "x"): 9}
    )
    lines = _lines(rate_period("2026-10", CUSTOMER, [_order(charges)], facts))
    assert lines["outcome:email"].exact == Decimal("4.004")
    assert lines["outcome:email"].amount == Decimal("4.00")  # half-even to the cent
    assert lines["outcome:refund"].amount == Decimal("-10")
    assert "outcome:x" not in lines


def test_usage_models_minimum_and_placement() -> None:
    meters = {
        "calls": {
            "key": "calls",
            "event_type": "call",
            "aggregation": "count",
            "value_property": None,
            "group_by": {},
            "kind": "billable",
        },
        "seats": {
            "key": "seats",
            "event_type": "seat",
            "aggregation": "max",
            "value_property": "$.n",
            "group_by": {},
            "kind": "billable",
        },
        "deal": {
            "key": "deal",
            "event_type": "deal",
            "aggregation": "sum",
            "value_property": "$.v",
            "group_by": {},
            "kind": "billable",
        },
    }
    usage = [
        {
            "key": "pk",
            "meter": "calls",
            "model": "package",
            "package_size": "7",
            "package_price": "2.5",
        },
        {"key": "seat", "meter": "seats", "model": "per_unit", "unit_price": "9"},
        {
            "key": "pct",
            "meter": "deal",
            "model": "percentage",
            "rate": "10",
            "min_per_event": "5",
            "max_per_event": "50",
        },
    ]
    events = {
        "call": [Event(f"c{i}", "cus_1", _at(1 + i), {}) for i in range(8)],
        "seat": [Event("s1", "cus_1", _at(3), {"n": 4}), Event("s2", "cus_1", _at(9), {"n": 2})],
        "deal": [
            Event("d1", "cus_1", _at(5), {"v": "20"}),
            Event("d2", "cus_1", _at(6), {"v": "1000"}),
        ],
    }
    facts = PeriodFacts(events=events, meters=meters)
    order = _order({"usage": usage, "minimum": "100"})
    lines = _lines(rate_period("2026-10", CUSTOMER, [order], facts))
    assert lines["usage:pk"].amount == Decimal("5.0")  # 8 calls: 2 packages
    assert lines["usage:seat"].amount == Decimal(36)  # peak 4 seats
    assert lines["usage:pct"].amount == Decimal(55)  # 10% of 20 → min 5; of 1000 → max 50
    assert lines["minimum"].amount == Decimal(4)  # 100 − (5 + 36 + 55)
    # The percentage charge lies on its events by fee (5 and 50); the peak on the days.
    assert [(p.ts, units) for p, units in lines["usage:pct"].shares()] == [
        (_at(5), 500),
        (_at(6), 5000),
    ]
    assert len(lines["usage:seat"].pieces) == 31


def test_late_signals_and_modes() -> None:
    charges = {"outcomes": [{"event_name": "won", "price": "10"}]}
    marks = {"USD": {"2026-09": _at(2)}}  # September was finalized on October 2nd
    september = to_micros(datetime(2026, 9, 20, tzinfo=UTC))
    late = [
        LateSignal(september, _at(5), "", "won"),  # arrived after: late into October
        LateSignal(september, _at(1), "", "won"),  # arrived before: September billed it
    ]
    order = {**_order(charges), "starts_at": month_bounds("2026-09")[0]}
    facts = PeriodFacts(outcomes={(_at(7), "", "won"): 1}, late=late)
    lines = _lines(rate_period("2026-10", CUSTOMER, [order], facts, marks=marks))
    assert lines["outcome:won"].amount == Decimal(10)
    assert lines["outcome:won:2026-09"].amount == Decimal(10)
    assert lines["outcome:won:2026-09"].pieces == [Piece(OCT_LO, "", "won", 1)]
    cost_only_agent = rate_period(
        "2026-10",
        CUSTOMER,
        [order],
        PeriodFacts(outcomes={(_at(7), "agt_x", "won"): 3}),
        agent_modes={"agt_x": "cost_only"},
    )
    assert cost_only_agent == {}
    assert rate_period("2026-10", {**CUSTOMER, "tracking_mode": "cost_only"}, [order], facts) == {}


def test_rating_is_pure() -> None:
    charges = {
        "fees": [{"key": "f", "amount": "99", "interval": "monthly"}],
        "outcomes": [{"event_name": "won", "price": "1.5"}],
    }
    facts = PeriodFacts(outcomes={(_at(7), "", "won"): 3})
    first = rate_period("2026-10", CUSTOMER, [_order(charges)], facts)
    again = rate_period("2026-10", CUSTOMER, [_order(charges)], facts)
    assert [ln.render() for ln in first["USD"]] == [ln.render() for ln in again["USD"]]
    cheaper = {**charges, "outcomes": [{"event_name": "won", "price": "1"}]}
    candidate = _lines(rate_period("2026-10", CUSTOMER, [_order(cheaper)], facts))
    assert candidate["outcome:won"].amount == Decimal(3)
