"""``margin units``: a customer's units (sub-accounts), their own entitlements and checks,
through ``margin.control.units`` and ``margin.control.entitlements`` (a unit's credits:
``margin credits … --unit``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from margin._payload import PayloadError, parse_json
from margin._time import now_micros
from margin.cli_control import Customer, DataDir, Org, _customer, _run, _show, units_app
from margin.cli_output import AsJson
from margin.control import entitlements, unit_caps, units
from margin.control.errors import ControlError

__all__: list[str] = []

Unit = Annotated[str, typer.Argument(help="The unit's external id (or id).")]


@units_app.command("add")
def add(
    customer: Customer,
    external_id: Annotated[str, typer.Argument(help="The unit's external id.")],
    name: str | None = None,
    metadata: Annotated[str | None, typer.Option(help="A JSON object.")] = None,
    parent: Annotated[str | None, typer.Option(help="The unit it sits under.")] = None,
    external_type: Annotated[str | None, typer.Option("--type", help="A free label.")] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Create a customer's unit (an existing external id: replace its name, metadata,
    parent and type)."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        meta = _object(metadata, "metadata")
        fields = {"external_id": external_id, "name": name, "metadata": meta}
        fields.update(parent=parent, external_type=external_type)
        body = units.UnitIn.model_validate(fields)
        cid = _customer(conn, org_id, customer)
        row, _created = units.upsert_unit(conn, org_id, cid, body, now_micros())
        return units.render_unit(row)

    _show(as_json, _run(data_dir, org, work))


@units_app.command("list")
def list_(
    customer: Customer, as_json: AsJson = False, data_dir: DataDir = None, org: Org = None
) -> None:
    """A customer's units, by external id."""

    def work(conn: Connection, org_id: str) -> list[dict[str, Any]]:
        cid = _customer(conn, org_id, customer)
        return [units.render_unit(r) for r in units.list_units(conn, org_id, cid)]

    _show(as_json, _run(data_dir, org, work))


@units_app.command("remove")
def remove(customer: Customer, unit: Unit, data_dir: DataDir = None, org: Org = None) -> None:
    """Remove a customer's unit."""

    def work(conn: Connection, org_id: str) -> None:
        units.remove_unit(conn, org_id, _customer(conn, org_id, customer), unit)

    _run(data_dir, org, work)


@units_app.command("entitle")
def entitle(
    customer: Customer,
    unit: Unit,
    feature_key: Annotated[str, typer.Argument(metavar="FEATURE")],
    kind: Annotated[str, typer.Option(help="boolean, static or metered.")] = "boolean",
    config: Annotated[str | None, typer.Option(help="A JSON object (static).")] = None,
    limit: Annotated[str | None, typer.Option(help="Usage per period (metered).")] = None,
    period: str = "month",
    time_zone: str = "UTC",
    soft: Annotated[bool, typer.Option("--soft", help="Report overage, never deny.")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Give a unit an entitlement of its own (replacing one it has); a metered one counts the
    unit's own usage."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        fields = {"feature": feature_key, "kind": kind, "config": _object(config, "config")}
        if kind == "metered":
            fields.update(limit=limit, period=period, time_zone=time_zone, hard=not soft)
        body = entitlements.EntitlementIn.model_validate(fields)
        cid = _customer(conn, org_id, customer)
        uid = units.get_unit(conn, org_id, cid, unit)["id"]
        row = entitlements.set_entitlement(conn, org_id, cid, body, now_micros(), uid)
        return entitlements.render_entitlement(row)

    _show(as_json, _run(data_dir, org, work))


@units_app.command("cap")
def cap(
    customer: Customer,
    unit: Unit,
    amount: Annotated[str, typer.Argument(help="Credits per month, a decimal.")],
    currency: Annotated[str, typer.Option(help="The credit currency it caps.")],
    effective_from: Annotated[str | None, typer.Option(help="RFC 3339 or a date.")] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Cap what the unit and the units under it spend of a credit currency per month
    (replacing its cap); ``margin units uncap`` removes it."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        body = unit_caps.CapIn(amount=amount, currency=currency, effective_from=effective_from)
        cid = _customer(conn, org_id, customer)
        return units.render_unit(unit_caps.set_cap(conn, org_id, cid, unit, body, now_micros()))

    _show(as_json, _run(data_dir, org, work))


@units_app.command("uncap")
def uncap(customer: Customer, unit: Unit, data_dir: DataDir = None, org: Org = None) -> None:
    """Remove a unit's cap."""

    def work(conn: Connection, org_id: str) -> None:
        unit_caps.end_cap(conn, org_id, _customer(conn, org_id, customer), unit)

    _run(data_dir, org, work)


@units_app.command("check")
def check(
    customer: Customer,
    unit: Unit,
    feature_key: Annotated[str, typer.Argument(metavar="FEATURE")],
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Whether the unit may use the feature now (its own entitlement, else the customer's)."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        cid = _customer(conn, org_id, customer)
        uid = units.get_unit(conn, org_id, cid, unit)["id"]
        return entitlements.check(conn, org_id, cid, feature_key, now_micros(), uid)

    _show(as_json, _run(data_dir, org, work))


def _object(text: str | None, field: str) -> Any:
    """A JSON option's value, parsed as the API parses a body; ``{}`` when not given.
    What a store cannot hold is refused by the model it goes into, naming ``field``."""
    try:
        return parse_json(text) if text is not None else {}
    except PayloadError as exc:
        # The parser speaks of a request body; here the JSON is the option's value.
        reason = exc.detail.removeprefix("body is not valid JSON: ")
        detail = exc.detail if reason == exc.detail else f"not JSON ({reason})"
        raise ControlError(422, f"{field}: {detail}", field) from None
