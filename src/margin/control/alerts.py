"""Alert rules and the alerts they fire.

A rule watches one metric over the current period (day, week or month from local midnight
in its time zone) for the organization, or per customer, agent or customer × agent (``per``;
``customer``/``agent`` pin one party): ``ai_cost``, ``revenue`` and ``profit`` (money in one
currency, from the same rating as reports and invoices), ``margin`` (profit as % of revenue),
``usage`` of a feature by each entitled customer, or a credit ``balance``. Thresholds are
decimal strings; ``"80%"`` is a share of the entitlement's limit (usage) or of what was
granted (balance). Direction ``above`` or ``below``.

Each threshold fires once per period and party: the alert is a row keyed by (rule,
threshold, party, period start), inserted only if absent, and ``alert.triggered`` is emitted
by whoever inserted it, in that transaction. When the value goes back, the alert resolves
(``alert.resolved``); crossing again in the same period triggers it again.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import Connection, select, update

from margin._calendar import load_zone, window_end, window_start
from margin._currency import CurrencyCode
from margin._ids import new_id
from margin._money import MoneyError, format_decimal, parse_amount
from margin._storable import Storable
from margin._time import isoformat
from margin.control._rows import insert_ignore
from margin.control.alert_values import measure
from margin.control.errors import ControlError
from margin.control.features import CREDIT_CURRENCY, get_feature
from margin.control.outbox import emit
from margin.control.quantities import check_zone
from margin.store.db import Database
from margin.store.schema_control import alert_rules, alerts

log = logging.getLogger("margin.control")

__all__ = ["RuleIn", "create_rule", "evaluate", "list_alerts", "list_rules", "render_rule"]

Metric = Literal["ai_cost", "revenue", "profit", "margin", "usage", "balance"]


class RuleIn(Storable):
    name: Annotated[str, Field(min_length=1, max_length=256)]
    metric: Metric
    per: Literal["organization", "customer", "agent", "customer_agent"] = "organization"
    customer: Annotated[str, Field(max_length=40)] | None = None
    agent: Annotated[str, Field(max_length=40)] | None = None
    currency: CurrencyCode = "USD"
    feature: Annotated[str, Field(max_length=128)] | None = None
    credit_currency: Annotated[str, Field(pattern=CREDIT_CURRENCY)] | None = None
    period: Literal["day", "week", "month"] = "month"
    time_zone: Annotated[str, Field(max_length=64)] = "UTC"
    direction: Literal["above", "below"] = "above"
    thresholds: Annotated[list[str], Field(min_length=1, max_length=20)]

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[str]) -> list[str]:
        for item in value:
            number = item[:-1] if item.endswith("%") else item
            try:
                ok = parse_amount(number) is not None and len(item) <= 40
            except MoneyError:
                ok = False
            if not ok:
                raise ValueError(f"{item!r} is not a decimal number or a percentage")
        return value


def create_rule(conn: Connection, org_id: str, body: RuleIn, now: int) -> dict[str, Any]:
    if body.metric == "usage":
        if body.feature is None:
            raise ControlError(422, "feature: a usage rule names a feature", "feature")
        get_feature(conn, org_id, body.feature)
    if body.metric == "balance" and body.credit_currency is None:
        raise ControlError(422, "credit_currency: a balance rule names one", "credit_currency")
    if body.metric in ("usage", "balance") and body.per not in ("customer", "organization"):
        raise ControlError(422, "per: usage and balances are per customer", "per")
    row = {
        "id": new_id("alr"),
        "org_id": org_id,
        "name": body.name,
        "metric": body.metric,
        "customer_id": body.customer,
        "agent_id": body.agent,
        "params": {
            "per": "customer" if body.metric in ("usage", "balance") else body.per,
            "currency": body.currency,
            "feature": body.feature,
            "credit_currency": body.credit_currency,
        },
        "period": body.period,
        "time_zone": check_zone(body.time_zone),
        "direction": body.direction,
        "thresholds": body.thresholds,
        "enabled": True,
        "created_at": now,
    }
    conn.execute(alert_rules.insert().values(**row))
    return row


def list_rules(conn: Connection, org_id: str) -> list[dict[str, Any]]:
    r = alert_rules
    rows = conn.execute(select(r).where(r.c.org_id == org_id).order_by(r.c.created_at, r.c.id))
    return [dict(x._mapping) for x in rows]


def render_rule(row: dict[str, Any]) -> dict[str, Any]:
    params = row["params"]
    return {
        "id": row["id"],
        "name": row["name"],
        "metric": row["metric"],
        "per": params["per"],
        "customer": row["customer_id"],
        "agent": row["agent_id"],
        "currency": params["currency"],
        "feature": params["feature"],
        "credit_currency": params["credit_currency"],
        "period": row["period"],
        "time_zone": row["time_zone"],
        "direction": row["direction"],
        "thresholds": row["thresholds"],
        "enabled": row["enabled"],
        "created_at": isoformat(row["created_at"]),
    }


def list_alerts(
    conn: Connection, org_id: str, state: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    a, r = alerts, alert_rules
    stmt = (
        select(a, r.c.name, r.c.metric).join(r, r.c.id == a.c.rule_id).where(a.c.org_id == org_id)
    )
    if state is not None:
        stmt = stmt.where(a.c.state == state)
    rows = conn.execute(stmt.order_by(a.c.triggered_at.desc(), a.c.id).limit(limit))
    return [
        {
            "id": x.id,
            "rule_id": x.rule_id,
            "rule": x.name,
            "metric": x.metric,
            "threshold": x.threshold,
            "party": x.party,
            "period_start": isoformat(x.period_start),
            "value": x.value,
            "state": x.state,
            "triggered_at": isoformat(x.triggered_at),
            "resolved_at": None if x.resolved_at is None else isoformat(x.resolved_at),
        }
        for x in rows
    ]


def evaluate(db: Database, now: int, org_id: str | None = None) -> int:
    """Evaluate every enabled rule now; how many alerts were triggered or resolved."""
    with db.read() as conn:
        stmt = select(alert_rules).where(alert_rules.c.enabled.is_(True))
        if org_id is not None:
            stmt = stmt.where(alert_rules.c.org_id == org_id)
        rules = [dict(x._mapping) for x in conn.execute(stmt.order_by(alert_rules.c.id))]
    changed = 0
    for rule in rules:
        # One rule that cannot be measured (a zone its time_zone no longer names, a value
        # past what its metric holds) must not keep every later rule, of every organization,
        # from firing: it is logged and skipped, and tried again at the next tick.
        try:
            # Measured in a read first: only a rule with something to fire or resolve writes.
            with db.read() as conn:
                needed = _evaluate(conn, rule, now, write=False)
            if needed:
                changed += db.transact(partial(_evaluate, rule=rule, now=now))
        except Exception:
            log.exception("alert rule %s (organization %s) failed", rule["id"], rule["org_id"])
    return changed


def _crossed(value: Decimal, threshold: str, reference: Decimal | None, above: bool) -> bool:
    if threshold.endswith("%"):
        if reference is None:
            return False
        limit = reference * Decimal(threshold[:-1]) / 100
    else:
        limit = Decimal(threshold)
    return value >= limit if above else value < limit


def _evaluate(conn: Connection, rule: dict[str, Any], now: int, write: bool = True) -> int:
    """Fire and resolve the rule's alerts; with ``write=False`` only count what would."""
    zone = load_zone(rule["time_zone"])
    lo = window_start(now, rule["period"], zone)
    hi = window_end(lo, rule["period"], zone)
    above = rule["direction"] == "above"
    changed = 0
    a = alerts
    states = {
        (r.threshold, r.party): r.state
        for r in conn.execute(
            select(a.c.threshold, a.c.party, a.c.state).where(
                a.c.rule_id == rule["id"], a.c.period_start == lo
            )
        )
    }
    for party, value, reference in measure(conn, rule, lo, hi, now):
        for threshold in rule["thresholds"]:
            crossed = _crossed(value, threshold, reference, above)
            if not write:
                state = states.get((threshold, party))
                changed += state == "triggered" if not crossed else state != "triggered"
                continue
            key = (
                a.c.rule_id == rule["id"],
                a.c.threshold == threshold,
                a.c.party == party,
                a.c.period_start == lo,
            )
            shown = format_decimal(value)
            data = {
                "rule_id": rule["id"],
                "rule": rule["name"],
                "metric": rule["metric"],
                "threshold": threshold,
                "party": party,
                "value": shown,
                "period_start": isoformat(lo),
                "period_end": isoformat(hi),
            }
            if crossed:
                fresh = insert_ignore(
                    conn,
                    a,
                    {
                        "id": new_id("alt"),
                        "org_id": rule["org_id"],
                        "rule_id": rule["id"],
                        "threshold": threshold,
                        "party": party,
                        "period_start": lo,
                        "value": shown,
                        "state": "triggered",
                        "triggered_at": now,
                        "resolved_at": None,
                    },
                )
                if not fresh:
                    fresh = bool(
                        conn.execute(
                            update(a)
                            .where(*key, a.c.state == "resolved")
                            .values(
                                state="triggered", triggered_at=now, resolved_at=None, value=shown
                            )
                        ).rowcount
                    )
                if fresh:
                    emit(conn, rule["org_id"], "alert.triggered", data, now)
                    changed += 1
            elif conn.execute(
                update(a)
                .where(*key, a.c.state == "triggered")
                .values(state="resolved", resolved_at=now, value=shown)
            ).rowcount:
                emit(conn, rule["org_id"], "alert.resolved", data, now)
                changed += 1
    return changed
