"""Entitlements: a customer's access to a feature, and the check an agent makes before work.

``boolean`` gives access; ``static`` gives access with a configuration (e.g. a seat count);
``metered`` gives access while usage in the current period (day, week or month, starting at
local midnight in the entitlement's time zone; usage resets at each boundary) is below the
limit. A ``hard`` limit denies access once reached; a soft one only reports the overage.
When the feature burns a credit currency, a hard entitlement also denies access once the
customer's balance in it is spent.

A customer unit may have entitlements of its own: a metered one counts the usage attributed
to the unit (its signals or events) and spends what the unit may (its grants, then the
customer's), so its hard limit refuses that unit only. The customer's usage includes its
units'.

A plan may carry entitlements: every order of it grants them while the order is in force.
A customer's own entitlement to a feature takes precedence over a plan's; of several
orders in force, the latest one's plan counts.

The check reads committed state (rollups and grants), so it is current to the last
committed ingest. Checks and usage are not one transaction: N agents that check at the
same moment all see the same usage, so a hard limit can be overshot by what the work of N-1
of them uses (the documented bound, ``docs/control.md``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select

from margin._calendar import load_zone, window_end, window_start
from margin._ids import new_id
from margin._time import isoformat
from margin.billing.orders import active, load_orders
from margin.billing.plans import EntitlementIn, check_entitlement
from margin.control.credits import available
from margin.control.errors import ControlError
from margin.control.features import get_feature
from margin.control.quantities import parse_quantity, render_quantity
from margin.control.unit_caps import capped
from margin.control.usage import feature_usage
from margin.store.schema_control import entitlements, features

__all__ = [
    "EntitlementIn",
    "check",
    "list_entitlements",
    "plan_entitlements",
    "remove_entitlement",
    "render_entitlement",
    "set_entitlement",
]


def set_entitlement(
    conn: Connection,
    org_id: str,
    customer_id: str,
    body: EntitlementIn,
    now: int,
    unit_id: str = "",
) -> dict[str, Any]:
    """Create or replace the customer's (or its unit's) entitlement to the feature."""
    feature = check_entitlement(conn, org_id, body)
    limit = None if body.limit is None else parse_quantity(body.limit, "limit")
    row = {
        "id": new_id("ent"),
        "org_id": org_id,
        "customer_id": customer_id,
        "unit_id": unit_id,
        "feature_id": feature["id"],
        "kind": body.kind,
        "config": body.config,
        "limit_nanos": limit,
        "period": body.period if body.kind == "metered" else None,
        "time_zone": body.time_zone,
        "hard": body.hard,
        "created_at": now,
    }
    e = entitlements
    conn.execute(delete(e).where(*_own(org_id, customer_id, unit_id, feature["id"])))
    conn.execute(e.insert().values(**row))
    return {**row, "feature": feature}


def _own(org_id: str, customer_id: str, unit_id: str, feature_id: str) -> list[Any]:
    e = entitlements
    return [
        e.c.org_id == org_id,
        e.c.customer_id == customer_id,
        e.c.unit_id == unit_id,
        e.c.feature_id == feature_id,
    ]


def remove_entitlement(
    conn: Connection, org_id: str, customer_id: str, key: str, unit_id: str = ""
) -> None:
    feature = get_feature(conn, org_id, key)
    gone = conn.execute(
        delete(entitlements).where(*_own(org_id, customer_id, unit_id, feature["id"]))
    )
    if not gone.rowcount:
        who = "unit" if unit_id else "customer"
        raise ControlError(404, f"the {who} has no entitlement to '{key}'", "feature")


def list_entitlements(
    conn: Connection, org_id: str, customer_id: str, now: int, unit_id: str = ""
) -> list[dict[str, Any]]:
    """The customer's own entitlements, and those its plans grant at ``now`` to features it
    has none of its own for, by feature. For a unit: the unit's own first, then the
    customer's (``source`` says whose)."""
    e, f = entitlements, features
    rows = conn.execute(
        select(e, f.c.key.label("feature_key"))
        .join(f, f.c.id == e.c.feature_id)
        .where(e.c.org_id == org_id, e.c.customer_id == customer_id, e.c.unit_id.in_({"", unit_id}))
        .order_by(f.c.key, e.c.unit_id.desc())
    )
    own: list[dict[str, Any]] = []
    for r in rows:
        if own and own[-1]["feature_key"] == r.feature_key:
            continue  # the unit's own comes first (its unit id sorts after '')
        source = "unit" if r.unit_id else "customer"
        own.append({**r._mapping, "source": source, "plan": None})
    taken = {r["feature_key"] for r in own}
    granted = plan_entitlements(conn, org_id, customer_id, now).values()
    found = own + [g for g in granted if g["feature_key"] not in taken]
    return sorted(found, key=lambda r: r["feature_key"])


def plan_entitlements(
    conn: Connection, org_id: str, customer_id: str, now: int
) -> dict[str, dict[str, Any]]:
    """Feature key → the entitlement the customer's plans grant at ``now`` (the latest order
    in force wins), as rows shaped like stored ones."""
    out: dict[str, dict[str, Any]] = {}
    for order in load_orders(conn, org_id, customer_id):  # oldest first: later ones replace
        if not active(order, now):
            continue
        for spec in order["plan"]["charges"].get("entitlements") or []:
            given = EntitlementIn.model_validate(spec)
            limit = None if given.limit is None else parse_quantity(given.limit, "limit")
            out[given.feature] = {
                "id": None,
                "feature_key": given.feature,
                "kind": given.kind,
                "config": given.config,
                "limit_nanos": limit,
                "period": given.period if given.kind == "metered" else None,
                "time_zone": given.time_zone,
                "hard": given.hard,
                "created_at": order["created_at"],
                "source": "plan",
                "plan": order["plan_key"],
            }
    return out


def render_entitlement(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "feature": row.get("feature_key") or row["feature"]["key"],
        "kind": row["kind"],
        "config": row["config"],
        "limit": render_quantity(row["limit_nanos"]),
        "period": row["period"],
        "time_zone": row["time_zone"],
        "hard": row["hard"],
        "created_at": isoformat(row["created_at"]),
        "source": row.get("source") or ("unit" if row.get("unit_id") else "customer"),
        "unit_id": row.get("unit_id") or None,
        "plan": row.get("plan"),
    }


def check(
    conn: Connection, org_id: str, customer_id: str, key: str, now: int, unit_id: str = ""
) -> dict[str, Any]:
    """``{has_access, balance, usage, limit, overage, resets_at, …}`` for the feature now.
    For a unit: the unit's own entitlement (with the unit's usage), else the customer's (its
    own, else its plan's, with the customer's usage); the balance is what the unit may spend."""
    feature = get_feature(conn, org_id, key)
    e = entitlements
    found = conn.execute(
        select(e)
        .where(
            e.c.org_id == org_id,
            e.c.customer_id == customer_id,
            e.c.feature_id == feature["id"],
            e.c.unit_id.in_({"", unit_id}),
        )
        .order_by(e.c.unit_id.desc())
        .limit(1)
    ).first()
    answer: dict[str, Any] = {
        "feature": key,
        "has_access": False,
        "kind": None,
        "hard": None,
        "config": None,
        "balance": None,
        "credit_currency": feature["credit_currency"],
        "usage": None,
        "limit": None,
        "overage": None,
        "period_start": None,
        "resets_at": None,
    }
    ent: Any = (
        found._mapping
        if found is not None
        else plan_entitlements(conn, org_id, customer_id, now).get(key)
    )
    if ent is None:
        return answer
    answer.update(has_access=True, kind=ent["kind"], hard=ent["hard"], config=ent["config"])
    if ent["kind"] != "metered":
        return capped(conn, org_id, customer_id, unit_id, feature, now, answer)
    zone = load_zone(ent["time_zone"])
    lo = window_start(now, ent["period"], zone)
    hi = window_end(lo, ent["period"], zone)
    own_unit = ent.get("unit_id") or ""
    usage = feature_usage(conn, org_id, customer_id, feature, lo, hi, own_unit)
    limit = ent["limit_nanos"]
    exhausted = limit is not None and usage >= limit
    if feature["credit_currency"] is not None:
        currency = feature["credit_currency"]
        balance, _granted = available(conn, org_id, customer_id, currency, now, unit_id)
        answer["balance"] = render_quantity(balance)
        exhausted = exhausted or balance <= 0
    answer.update(
        usage=render_quantity(usage),
        limit=render_quantity(limit),
        overage=render_quantity(max(0, usage - limit) if limit is not None else 0),
        period_start=isoformat(lo),
        resets_at=isoformat(hi),
        has_access=not (ent["hard"] and exhausted),
    )
    # A unit's cap (margin.control.unit_caps) refuses whatever the entitlement allows.
    return capped(conn, org_id, customer_id, unit_id, feature, now, answer)
