"""What an alert rule watches, measured for each of its parties over one period.

Money metrics come from the reports' table (``build_table``: the one rating path for cost,
revenue and profit), so an alert and a report never disagree; usage comes from the feature's
usage, balances from the credit grants.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from margin._money import from_nanos
from margin.control.credits import balances
from margin.control.features import get_feature
from margin.control.usage import feature_usage
from margin.reports.facts import Filters
from margin.reports.tables import build_table
from margin.store.schema_control import credit_grants, entitlements

__all__ = ["PERS", "measure"]

#: The report dimensions each ``per`` groups by.
PERS = {
    "organization": [],
    "customer": ["customer"],
    "agent": ["agent"],
    "customer_agent": ["customer", "agent"],
}


def measure(
    conn: Connection, rule: dict[str, Any], lo: int, hi: int, now: int
) -> Iterator[tuple[str, Decimal, Decimal | None]]:
    """(party, value, reference for ``%`` thresholds) for each party the rule watches."""
    metric, params = rule["metric"], rule["params"]
    if metric == "usage":
        yield from _usage(conn, rule, lo, hi)
    elif metric == "balance":
        yield from _balance(conn, rule, params["credit_currency"], now)
    else:
        yield from _money(conn, rule, lo, hi)


def _party(dims: list[str], group: tuple[Any, ...]) -> str:
    if not dims:
        return "organization"
    return "/".join(f"{d}:{g or '-'}" for d, g in zip(dims, group, strict=False))


def _money(conn: Connection, rule: dict[str, Any], lo: int, hi: int) -> Iterator[Any]:
    params = rule["params"]
    dims = PERS[params["per"]]
    filters = Filters(
        customers=[rule["customer_id"]] if rule["customer_id"] else None,
        agents=[rule["agent_id"]] if rule["agent_id"] else None,
    )
    table = build_table(conn, rule["org_id"], lo, hi, dims, filters, sort="label", descending=False)
    for row in table:
        if row["currency"] != params["currency"]:
            continue
        metric = rule["metric"]
        if metric == "margin":
            if row["profit"] is None or not row["revenue"]:
                continue
            value = (Decimal(row["profit"]) * 100 / Decimal(row["revenue"])).quantize(
                Decimal("0.01")
            )
        else:
            nanos = row["cost" if metric == "ai_cost" else metric]
            if nanos is None:  # not tracked: no alert on a fake zero
                continue
            value = from_nanos(nanos)
        yield _party(dims, tuple(row["group"])), value, None


def _usage(conn: Connection, rule: dict[str, Any], lo: int, hi: int) -> Iterator[Any]:
    org_id = rule["org_id"]
    feature = get_feature(conn, org_id, rule["params"]["feature"])
    e = entitlements
    stmt = select(e.c.customer_id, e.c.limit_nanos).where(
        e.c.org_id == org_id, e.c.feature_id == feature["id"]
    )
    if rule["customer_id"]:
        stmt = stmt.where(e.c.customer_id == rule["customer_id"])
    for customer_id, limit in conn.execute(stmt.order_by(e.c.customer_id)).all():
        usage = feature_usage(conn, org_id, customer_id, feature, lo, hi)
        reference = None if limit is None else from_nanos(limit)
        yield f"customer:{customer_id}", from_nanos(usage), reference


def _balance(conn: Connection, rule: dict[str, Any], currency: str, now: int) -> Iterator[Any]:
    org_id = rule["org_id"]
    g = credit_grants
    stmt = select(g.c.customer_id).distinct().where(g.c.org_id == org_id, g.c.currency == currency)
    if rule["customer_id"]:
        stmt = stmt.where(g.c.customer_id == rule["customer_id"])
    for (customer_id,) in conn.execute(stmt.order_by(g.c.customer_id)).all():
        for item in balances(conn, org_id, customer_id, now):
            if item["currency"] == currency:
                granted = from_nanos(item["granted_nanos"])
                yield f"customer:{customer_id}", from_nanos(item["balance_nanos"]), granted
