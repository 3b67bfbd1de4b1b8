"""The pricing simulator: what a past period would have brought under a candidate plan.

The recorded facts of the period are rated twice by the one rating function
(``margin.billing.revenue.rate_customers``): once under the stored orders (*actual*), once
under the same orders with the candidate plan in place of the plan it replaces
(*candidate*). Each order keeps its customer, dates and the overrides that still name a
charge of the candidate. Both sides are placed and costed by the margin report
(``build_table``), so they are the report's figures per customer and in total; nothing is
stored.

Both sides are rated from the facts as they are now, finalized invoices aside: a signal is
counted in its own period even if it arrived after that period's invoice was finalized, so
that the difference between the sides is the plan's alone. Without late signals, *actual*
is exactly what the margin report shows.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection

from margin._calendar import month_bounds, period_of, periods_between
from margin._time import isoformat
from margin.billing.errors import BillingError
from margin.billing.orders import load_orders
from margin.billing.plans import PlanIn, apply_overrides, get_plan
from margin.billing.revenue import rate_customers
from margin.reports.currency import Converter, day_cuts
from margin.reports.facts import Filters
from margin.reports.modes import Tracking
from margin.reports.tables import Table, build_table, figures, money
from margin.store.directory import AGENTS, CUSTOMERS

__all__ = ["MAX_PERIODS", "SimulationIn", "simulate"]

#: The longest span a simulation rates, in billing periods (months).
MAX_PERIODS = 24
_ALL = "all"


class SimulationIn(BaseModel):
    """A simulation: a candidate plan, the orders it replaces, the periods, the customers."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    plan: str | dict[str, Any] = Field(
        description="A stored plan's key or id, or a plan inline (as ``POST /v1/plans`` "
        "takes it; not stored)."
    )
    replaces: str | None = Field(
        None,
        description="The plan (key or id) whose orders take the candidate, or 'all' for every "
        "order; default: the stored plan with the candidate's key.",
    )
    from_: Annotated[str, Field(alias="from", description="First billing period, YYYY-MM.")]
    to: str | None = Field(None, description="Last billing period, YYYY-MM; default: from.")
    customers: list[str] | None = Field(None, description="External ids or ids; default: all.")


def _periods(spec: SimulationIn, now: int) -> list[str]:
    first, last = spec.from_, spec.to or spec.from_
    for name, value in (("from", first), ("to", last)):
        try:
            month_bounds(value)
        except ValueError as exc:
            raise BillingError(422, f"{name}: {exc}", name) from None
    if last < first:
        raise BillingError(422, "to: must not be before from", "to")
    if last > period_of(now):
        raise BillingError(422, f"to: {last} has not begun: simulate past periods", "to")
    periods = periods_between(month_bounds(first)[0], month_bounds(last)[1])
    if len(periods) > MAX_PERIODS:
        raise BillingError(422, f"to: at most {MAX_PERIODS} periods at once", "to")
    return periods


def _candidate(conn: Connection, org_id: str, given: str | dict[str, Any]) -> dict[str, Any]:
    """The candidate as a plan row (never stored)."""
    if isinstance(given, str):
        found = get_plan(conn, org_id, given, missing_ok=True)
        if found is None:
            raise BillingError(422, f"plan: no plan '{given}'", "plan")
        return found
    try:
        plan = PlanIn.model_validate(given)
    except ValidationError as exc:
        error = exc.errors()[0]
        # A model-level check names its field in the message ("outcomes: keys must be…").
        where = ".".join(str(p) for p in error["loc"]) or str(error["msg"]).split(":")[0]
        where = where.removeprefix("Value error, ")
        message = str(error["msg"]).removeprefix("Value error, ")
        raise BillingError(422, f"plan.{where}: {message}", f"plan.{where}") from None
    agent_id = None
    if plan.agent is not None:
        agents = AGENTS.resolve(conn, org_id, [plan.agent], create=False)
        if plan.agent not in agents:
            if not AGENTS.existing_ids(conn, org_id, [plan.agent]):
                raise BillingError(422, f"plan.agent: no agent '{plan.agent}'", "plan.agent")
            agents[plan.agent] = plan.agent  # an agent's id, as GET /v1/plans shows it
        agent_id = agents[plan.agent]
    return {
        "id": "candidate",
        "key": plan.key,
        "name": plan.name,
        "agent_id": agent_id,
        "currency": plan.currency,
        "charges": plan.charges(),
    }


def _replaced(conn: Connection, org_id: str, spec: SimulationIn, key: str) -> dict[str, Any] | None:
    """The plan whose orders take the candidate (None: every order)."""
    ref = spec.replaces or key
    if ref == _ALL:
        return None
    found = get_plan(conn, org_id, ref, missing_ok=True)
    if found is None:
        if spec.replaces is None:
            detail = f"replaces: no stored plan has the key '{key}'; name the plan replaced"
        else:
            detail = f"replaces: no plan '{ref}'"
        raise BillingError(422, detail, "replaces")
    return found


def _customers(conn: Connection, org_id: str, refs: list[str] | None) -> list[str] | None:
    if refs is None:
        return None
    found = CUSTOMERS.resolve(conn, org_id, refs, create=False)
    direct = CUSTOMERS.existing_ids(conn, org_id, [r for r in refs if r not in found])
    for i, ref in enumerate(refs):
        if ref not in found and ref not in direct:
            raise BillingError(422, f"customers.{i}: no customer '{ref}'", f"customers.{i}")
    return sorted({found.get(r, r) for r in refs})


def _kept_overrides(charges: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """An order's overrides that name a charge the candidate has."""
    names = {
        "outcomes": {c["event_name"] for c in charges["outcomes"]},
        "fees": {c["key"] for c in charges["fees"]},
        "usage": {c["key"] for c in charges["usage"]},
    }
    kept: dict[str, Any] = {}
    for section, given in overrides.items():
        if section == "minimum":
            kept[section] = given
        elif section in names and isinstance(given, dict):
            kept[section] = {k: v for k, v in given.items() if k in names[section]}
    return kept


def _swap(order: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    try:
        charges = apply_overrides(
            plan["charges"], _kept_overrides(plan["charges"], order["overrides"])
        )
    except ValueError:  # an override the candidate's charge model cannot take
        charges = plan["charges"]
    return {
        **order,
        "plan_id": plan["id"],
        "plan_key": plan["key"],
        "plan": plan,
        "charges": charges,
    }


def _figures(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"cost": None, "revenue": None, "profit": None, "margin_pct": None}
    return figures(row)


def _change(actual: dict[str, Any] | None, candidate: dict[str, Any] | None) -> dict[str, Any]:
    out = {}
    for name in ("revenue", "profit"):
        a, c = (actual or {}).get(name), (candidate or {}).get(name)
        out[name] = None if a is None or c is None else money(c - a)
    return out


def _pairs(actual: Table, candidate: Table) -> list[tuple[Any, Any, Any]]:
    """Rows of both sides matched by (group, currency), in the actual side's order."""
    keys: list[tuple[Any, ...]] = []
    sides: dict[tuple[Any, ...], list[Any]] = {}
    for at, table in enumerate((actual, candidate)):
        for row in table:
            key = (tuple(row["group"] or ()), row["currency"])
            if key not in sides:
                keys.append(key)
                sides[key] = [None, None]
            sides[key][at] = row
    return [(key, *sides[key]) for key in keys]


def simulate(
    conn: Connection,
    org_id: str,
    spec: SimulationIn,
    *,
    now: int,
    convert: Converter | None = None,
) -> dict[str, Any]:
    """Revenue, cost, profit and margin per customer and in total, actual and under the
    candidate; with ``convert`` in its currency. Raises ``BillingError`` naming the field."""
    periods = _periods(spec, now)
    plan = _candidate(conn, org_id, spec.plan)
    replaced = _replaced(conn, org_id, spec, plan["key"])
    scope = _customers(conn, org_id, spec.customers)
    lo, hi = month_bounds(periods[0])[0], month_bounds(periods[-1])[1]
    stored = load_orders(conn, org_id)
    swapped: dict[str, int] = {}
    orders = []
    for order in stored:
        if (scope is None or order["customer_id"] in scope) and (
            replaced is None or replaced["id"] == order["plan_id"]
        ):
            order = _swap(order, plan)
            swapped[order["customer_id"]] = swapped.get(order["customer_id"], 0) + 1
        orders.append(order)
    cuts = [lo, hi]
    if convert is not None:
        # A candidate in another currency than every stored plan needs the days cut too.
        foreign = plan["currency"] != convert.currency
        cuts += day_cuts(lo, hi) if foreign else convert.cuts(lo, hi)
    filters = Filters(customers=scope)
    tracking = Tracking(conn, org_id)
    tables: dict[str, dict[str, Table]] = {}
    for side, given in (("actual", stored), ("candidate", orders)):
        lines = rate_customers(
            conn, org_id, periods, customer_ids=scope, cuts=cuts, finals=[], orders=given,
            field="from",
        )  # fmt: skip
        shared: dict[str, Any] = {"lines": lines, "convert": convert, "tracking": tracking}
        tables[side] = {
            "customers": build_table(
                conn,
                org_id,
                lo,
                hi,
                ["customer"],
                filters,
                sort="label",
                descending=False,
                **shared,
            ),
            "totals": build_table(conn, org_id, lo, hi, [], filters, sort="label", **shared),
        }
    customers = []
    for key, actual, candidate in _pairs(
        tables["actual"]["customers"], tables["candidate"]["customers"]
    ):
        row = actual or candidate
        customer_id = key[0][0]
        customers.append(
            {
                "customer_id": customer_id or None,
                "label": row["label"],
                "currency": key[1],
                "orders_replaced": swapped.get(customer_id, 0),
                "actual": _figures(actual),
                "candidate": _figures(candidate),
                "change": _change(actual, candidate),
            }
        )
    totals = [
        {
            "currency": key[1],
            "actual": _figures(actual),
            "candidate": _figures(candidate),
            "change": _change(actual, candidate),
        }
        for key, actual, candidate in _pairs(
            tables["actual"]["totals"], tables["candidate"]["totals"]
        )
    ]
    out: dict[str, Any] = {
        "from": periods[0],
        "to": periods[-1],
        "period": {"from": isoformat(lo), "to": isoformat(hi)},
        "plan": {
            "key": plan["key"],
            "currency": plan["currency"],
            "stored": plan["id"] != "candidate",
        },
        "replaces": _ALL if replaced is None else replaced["key"],
        "orders_replaced": sum(swapped.values()),
        "customers": customers,
        "totals": totals,
    }
    if convert is not None:
        out["currency"], out["rates"] = convert.currency, convert.rates()
    return out
