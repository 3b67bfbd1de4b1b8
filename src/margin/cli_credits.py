"""``margin credits``: grants, balances and the ledger of a customer or of one of its units
(``--unit``), through ``margin.control.grants`` and ``margin.control.credits``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from margin._time import now_micros
from margin.cli_control import Customer, DataDir, Org, _customer, _run, _show, credits_app
from margin.cli_output import AsJson
from margin.control import credits, grants, units

__all__: list[str] = []

UnitOption = Annotated[
    str | None, typer.Option("--unit", help="A unit of the customer (its external id or id).")
]


def _unit(conn: Connection, org_id: str, customer_id: str, unit: str | None) -> str:
    return "" if unit is None else str(units.get_unit(conn, org_id, customer_id, unit)["id"])


@credits_app.command("grant")
def grant(
    customer: Customer,
    currency: Annotated[str, typer.Option(help="ISO 4217 code or a credit name (meetings).")],
    amount: Annotated[str, typer.Option(help="Decimal amount.")],
    priority: int = 10,
    expires_at: Annotated[str | None, typer.Option(help="RFC 3339.")] = None,
    recurrence: Annotated[str | None, typer.Option(help="day, week or month.")] = None,
    rollover_max: str | None = None,
    time_zone: str = "UTC",
    unit: UnitOption = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Grant credits to a customer, or to one of its units (burned before the customer's)."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        body = grants.GrantIn.model_validate(
            {
                "currency": currency,
                "amount": amount,
                "priority": priority,
                "expires_at": expires_at,
                "recurrence": recurrence,
                "rollover_max": rollover_max,
                "time_zone": time_zone,
            }
        )
        cid = _customer(conn, org_id, customer)
        uid = _unit(conn, org_id, cid, unit)
        return grants.render_grant(grants.create_grant(conn, org_id, cid, body, now_micros(), uid))

    _show(as_json, _run(data_dir, org, work))


@credits_app.command("balances")
def balances(
    customer: Customer,
    unit: UnitOption = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """A customer's (or its unit's) balances per currency."""

    def work(conn: Connection, org_id: str) -> list[dict[str, Any]]:
        cid = _customer(conn, org_id, customer)
        uid = _unit(conn, org_id, cid, unit)
        return credits.render_balances(credits.balances(conn, org_id, cid, now_micros(), uid))

    _show(as_json, _run(data_dir, org, work))


@credits_app.command("ledger")
def ledger(
    customer: Customer,
    currency: str | None = None,
    unit: UnitOption = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Every change of a customer's balances (and its units'), with its cause; with
    ``--unit``, the rows naming that unit."""

    def work(conn: Connection, org_id: str) -> list[dict[str, Any]]:
        cid = _customer(conn, org_id, customer)
        uid = None if unit is None else _unit(conn, org_id, cid, unit)
        return credits.history(conn, org_id, cid, currency, 500, uid)

    _show(as_json, _run(data_dir, org, work))
