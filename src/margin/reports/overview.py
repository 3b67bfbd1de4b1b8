"""The overview: everything the dashboard's first page shows, in one read — totals per
currency against the prior period, a daily series, the top customers and agents, cost by
provider, model and source, and how the headline profit is made of the customers' figures.

The headline adds every tracked figure: a cost-only customer's cost lowers the profit
though its revenue is not tracked, and a revenue-only customer's revenue raises it though
its cost is not. ``explain`` lists those parts, so that the customers' profits plus the
parts equal the headline exactly.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from margin._calendar import boundaries, prior_start
from margin._money import from_nanos
from margin._rounding import display
from margin._time import from_micros, isoformat
from margin.reports.currency import Converter, flagged
from margin.reports.facts import SOURCES, Filters
from margin.reports.models import by_catalog_model
from margin.reports.modes import Tracking
from margin.reports.tables import (
    build_table,
    fold_top,
    money,
    render_row,
    revenue_lines,
)

__all__ = ["explain", "overview", "unassigned"]

_REASONS = {
    "cost-only": "cost-only customer",
    "revenue-only": "revenue-only customer",
    "no order prices it yet": "customer without an order",
    "no cost recorded yet": "customer with no cost recorded",
}


def _who(reason: str, n: int) -> str:
    if reason.startswith("recorded for no"):
        return "recorded for no customer"
    noun = _REASONS.get(reason, f"customer ({reason})")
    return f"of {n} {noun}" if n == 1 else f"of {n} {noun.replace('customer', 'customers', 1)}"


def explain(
    totals: list[dict[str, Any]], customers: list[dict[str, Any]], tracking: Tracking
) -> dict[str, dict[str, Any]]:
    """Per currency: the parts the headline profit is made of, and notes for people."""
    out: dict[str, dict[str, Any]] = {}
    for total in totals:
        currency = total["currency"]
        both = [r for r in customers if r["currency"] == currency and r["profit"] is not None]
        parts: list[dict[str, Any]] = [
            {
                "part": "customers_with_profit",
                "reason": None,
                "customers": len(both),
                "amount": money(sum(r["profit"] for r in both)),
            }
        ]
        notes = []
        buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for row in customers:
            if row["currency"] != currency or row["group"] is None:
                continue
            party = row["group"][0]
            if row["revenue"] is None and row["cost"] is not None:
                slot = buckets[
                    ("cost_without_revenue", tracking.reason("customer", party, "revenue"))
                ]
                slot[0] += 1
                slot[1] -= row["cost"]
            elif row["cost"] is None and row["revenue"] is not None:
                slot = buckets[("revenue_without_cost", tracking.reason("customer", party, "cost"))]
                slot[0] += 1
                slot[1] += row["revenue"]
        for (part, reason), (count, nanos) in sorted(buckets.items()):
            parts.append(
                {"part": part, "reason": reason, "customers": count, "amount": money(nanos)}
            )
            amount = display(abs(from_nanos(nanos)), currency)
            what = "cost" if part == "cost_without_revenue" else "revenue"
            notes.append(f"includes {amount} {what} {_who(reason, count)}")
        out[currency] = {"parts": parts, "notes": notes}
    return out


def overview(
    conn: Connection,
    org_id: str,
    lo: int,
    hi: int,
    zone: ZoneInfo,
    tz: str,
    top: int,
    convert: Converter | None = None,
) -> dict[str, Any]:
    """The overview of [lo, hi) with days in ``zone`` (see ``margin.server.routes``), per
    original currency, or with ``convert`` in its currency (with the rates used)."""
    days = boundaries(lo, hi, "day", zone)
    tracking = Tracking(conn, org_id)
    none = Filters()
    prior_lo = prior_start(lo, hi)
    cuts = [lo, *days] + (convert.cuts(prior_lo, hi) if convert is not None else [])
    lines = revenue_lines(conn, org_id, prior_lo, hi, none, cuts)
    shared: dict[str, Any] = {"tracking": tracking, "lines": lines, "convert": convert}
    totals = build_table(conn, org_id, lo, hi, [], none, sort="label", compare=True, **shared)
    series = build_table(conn, org_id, lo, hi, [], none, windows=days, sort="label", **shared)
    customers = build_table(conn, org_id, lo, hi, ["customer"], none, **shared)
    agents = build_table(conn, org_id, lo, hi, ["agent"], none, top=top, **shared)
    costs: dict[str, Any] = {"sort": "cost", "convert": convert}
    by_provider = build_table(conn, org_id, lo, hi, ["provider"], none, top=top, **costs)
    models = build_table(conn, org_id, lo, hi, ["provider", "model"], none, **costs)
    by_model = fold_top(models, top)
    explained = explain(totals, customers, tracking)
    rendered = []
    for row in totals:
        item = render_row(row, [], False)
        for name in ("key", "label", "is_other"):
            item.pop(name)
        item.update(explained[row["currency"]])
        rendered.append(item)
    converted: dict[str, Any] = {}
    if convert is not None:
        converted = {"currency": convert.currency, "rates": convert.rates()}
    return {
        "from": isoformat(lo),
        "to": isoformat(hi),
        "tz": tz,
        **converted,
        "prior": {"from": isoformat(prior_lo), "to": isoformat(lo)},
        "totals": rendered,
        "series": [
            {
                "date": from_micros(r["window"]).astimezone(zone).date().isoformat(),
                "window_start": isoformat(r["window"]),
                "currency": r["currency"],
                "cost": money(r["cost"]),
                "revenue": money(r["revenue"]),
                "profit": money(r["profit"]),
                **flagged(r),
            }
            for r in series
        ],
        "top_customers": [render_row(r, ["customer"], False) for r in fold_top(customers, top)],
        "top_agents": [render_row(r, ["agent"], False) for r in agents],
        "cost_by_provider": [render_row(r, ["provider"], False) for r in by_provider],
        "cost_by_model": [render_row(r, ["provider", "model"], False) for r in by_model],
        "cost_by_catalog_model": by_catalog_model(models, top),
        "cost_by_source": [
            {
                "source": source,
                "currency": row["currency"],
                "cost": money(row["sources"][source]),
                **_source_unconverted(row, source),
            }
            for row in totals
            if row["sources"] is not None
            for source in SOURCES
        ],
        "unpriced": {"records": sum(r["unpriced"] for r in totals)},
        "unassigned": unassigned(customers),
    }


def _source_unconverted(row: dict[str, Any], source: str) -> dict[str, Any]:
    """A source's cost that had no exchange rate, per original currency (converted only)."""
    missing = [
        {"currency": currency, "cost": money(by_source[source])}
        for currency, by_source in sorted((row.get("unconverted_sources") or {}).items())
        if by_source.get(source)
    ]
    return {"unconverted": missing} if missing else {}


def unassigned(customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per currency, the cost recorded for no customer (a trace whose attributes name none:
    see ``margin.store.party_mapping``), and how many records it is."""
    return [
        {"currency": row["currency"], "cost": money(row["cost"]), "records": row["records"]}
        for row in customers
        if row["group"] is not None and not row["group"][0] and row["cost"]
    ]
