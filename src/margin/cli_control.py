"""``margin credits …``, ``margin entitlements …``, ``margin alerts …`` and ``margin webhooks
…``: the control plane from the command line, straight on the store (no server needed),
through the same services as the API. Every command prints a table, or with ``--json``
the API's answer (exact decimal strings).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Connection

from margin._refusal import Refusal
from margin._time import now_micros
from margin.cli_output import AsJson, show
from margin.cli_reports import fail
from margin.cli_store import open_org
from margin.control import alerts, entitlements, features, outbox
from margin.control.delivery import delivery_log
from margin.control.errors import ControlError
from margin.store.directory import CUSTOMERS

__all__ = ["APPS"]

credits_app = typer.Typer(help="Credit grants, balances and their ledger.", no_args_is_help=True)
entitlements_app = typer.Typer(help="Features, entitlements and checks.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alert rules and fired alerts.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook endpoints and their delivery log.", no_args_is_help=True)
units_app = typer.Typer(help="A customer's units (sub-accounts).", no_args_is_help=True)
#: (name, app) pairs that ``margin.cli`` mounts.
APPS = (
    ("credits", credits_app),
    ("entitlements", entitlements_app),
    ("alerts", alerts_app),
    ("webhooks", webhooks_app),
    ("units", units_app),
)

console = Console(soft_wrap=True)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where the store lives.")]
Org = Annotated[str | None, typer.Option("--org", help="Organization id (default: the first).")]
Customer = Annotated[str, typer.Argument(help="The customer's external id.")]
AlertState = Annotated[
    Literal["triggered", "resolved"] | None, typer.Option(help="Only the alerts in this state.")
]
T = TypeVar("T")


def _show(as_json: bool, value: Any) -> None:
    show(value, as_json=as_json, console=console)


def _run(data_dir: Path | None, org: str | None, work: Callable[[Connection, str], T]) -> T:
    """Run ``work`` in a write transaction; a refused input ends the command with its reason."""
    db, org_id = open_org(data_dir, org)
    try:
        with db.write() as conn:
            return work(conn, org_id)
    except Refusal as exc:
        fail(exc.detail)
        raise
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        raise
    finally:
        db.dispose()


def _customer(conn: Connection, org_id: str, external_id: str) -> str:
    row = CUSTOMERS.get_by_external(conn, org_id, external_id)
    if row is None:
        raise ControlError(404, f"no customer '{external_id}'", "customer")
    return str(row["id"])


@entitlements_app.command("feature")
def feature(
    key: str,
    backed_by: Annotated[str, typer.Option(help="meter, signals, ai_cost or none.")] = "none",
    event_name: str | None = None,
    meter: str | None = None,
    currency: str | None = None,
    credit_currency: str | None = None,
    unit_credits: str | None = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Create a feature."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        body = features.FeatureIn.model_validate(
            {
                "key": key,
                "backed_by": backed_by,
                "event_name": event_name,
                "meter": meter,
                "currency": currency,
                "credit_currency": credit_currency,
                "unit_credits": unit_credits,
            }
        )
        return features.render_feature(features.create_feature(conn, org_id, body, now_micros()))

    _show(as_json, _run(data_dir, org, work))


@entitlements_app.command("set")
def set_(
    customer: Customer,
    feature_key: Annotated[str, typer.Argument(metavar="FEATURE")],
    kind: str = "metered",
    limit: str | None = None,
    period: str = "month",
    time_zone: str = "UTC",
    soft: Annotated[bool, typer.Option("--soft", help="Report overage, never deny.")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Give a customer an entitlement to a feature (replacing one it has)."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        body = entitlements.EntitlementIn.model_validate(
            {
                "feature": feature_key,
                "kind": kind,
                "limit": limit,
                "period": period,
                "time_zone": time_zone,
                "hard": not soft,
            }
        )
        cid = _customer(conn, org_id, customer)
        row = entitlements.set_entitlement(conn, org_id, cid, body, now_micros())
        return entitlements.render_entitlement(row)

    _show(as_json, _run(data_dir, org, work))


@entitlements_app.command("list")
def list_(
    customer: Customer, as_json: AsJson = False, data_dir: DataDir = None, org: Org = None
) -> None:
    """A customer's entitlements."""
    _show(
        as_json,
        _run(
            data_dir,
            org,
            lambda conn, org_id: [
                entitlements.render_entitlement(r)
                for r in entitlements.list_entitlements(
                    conn, org_id, _customer(conn, org_id, customer), now_micros()
                )
            ],
        ),
    )


@entitlements_app.command("check")
def check(
    customer: Customer,
    feature_key: Annotated[str, typer.Argument(metavar="FEATURE")],
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Whether the customer has access to the feature now, with usage and limit."""
    _show(
        as_json,
        _run(
            data_dir,
            org,
            lambda conn, org_id: entitlements.check(
                conn, org_id, _customer(conn, org_id, customer), feature_key, now_micros()
            ),
        ),
    )


@alerts_app.command("add")
def add_rule(
    name: str,
    metric: Annotated[str, typer.Option(help="ai_cost, revenue, profit, margin, usage, balance.")],
    threshold: Annotated[list[str], typer.Option(help="Repeatable; 80% = share of limit.")],
    per: str = "organization",
    customer: Annotated[str | None, typer.Option(help="External id.")] = None,
    currency: str = "USD",
    feature_key: Annotated[str | None, typer.Option("--feature")] = None,
    credit_currency: str | None = None,
    period: str = "month",
    time_zone: str = "UTC",
    below: Annotated[bool, typer.Option("--below", help="Fire below the thresholds.")] = False,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Create an alert rule."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        body = alerts.RuleIn.model_validate(
            {
                "name": name,
                "metric": metric,
                "per": per,
                "currency": currency,
                "feature": feature_key,
                "credit_currency": credit_currency,
                "period": period,
                "time_zone": time_zone,
                "direction": "below" if below else "above",
                "thresholds": threshold,
                "customer": _customer(conn, org_id, customer) if customer else None,
            }
        )
        return alerts.render_rule(alerts.create_rule(conn, org_id, body, now_micros()))

    _show(as_json, _run(data_dir, org, work))


@alerts_app.command("rules")
def rules(as_json: AsJson = False, data_dir: DataDir = None, org: Org = None) -> None:
    """List alert rules."""
    _show(
        as_json,
        _run(
            data_dir,
            org,
            lambda conn, org_id: [alerts.render_rule(r) for r in alerts.list_rules(conn, org_id)],
        ),
    )


@alerts_app.command("list")
def list_alerts(
    state: AlertState = None, as_json: AsJson = False, data_dir: DataDir = None, org: Org = None
) -> None:
    """Alerts fired, newest first."""
    _show(
        as_json, _run(data_dir, org, lambda conn, org_id: alerts.list_alerts(conn, org_id, state))
    )


@webhooks_app.command("add")
def add_endpoint(
    url: str,
    event: Annotated[
        list[str] | None, typer.Option(help="Event type (repeatable; default all).")
    ] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Register an endpoint; prints its signing secret."""

    def work(conn: Connection, org_id: str) -> dict[str, Any]:
        body = outbox.EndpointIn.model_validate(
            {"url": url, **({"event_types": event} if event else {})}
        )
        row = outbox.create_endpoint(conn, org_id, body, now_micros())
        return outbox.render_endpoint(row, with_secret=True)

    _show(as_json, _run(data_dir, org, work))


@webhooks_app.command("list")
def endpoints(as_json: AsJson = False, data_dir: DataDir = None, org: Org = None) -> None:
    """List endpoints."""
    _show(
        as_json,
        _run(
            data_dir,
            org,
            lambda conn, org_id: [
                outbox.render_endpoint(r) for r in outbox.list_endpoints(conn, org_id)
            ],
        ),
    )


@webhooks_app.command("rotate")
def rotate(
    endpoint_id: str, as_json: AsJson = False, data_dir: DataDir = None, org: Org = None
) -> None:
    """Rotate an endpoint's secret (the old one signs too for 24 hours)."""
    _show(
        as_json,
        _run(
            data_dir,
            org,
            lambda conn, org_id: outbox.render_endpoint(
                outbox.rotate_secret(conn, org_id, endpoint_id, now_micros()), with_secret=True
            ),
        ),
    )


@webhooks_app.command("log")
def log(
    endpoint_id: Annotated[str | None, typer.Option("--endpoint")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    org: Org = None,
) -> None:
    """Deliveries, newest first, with every attempt."""
    _show(
        as_json,
        _run(data_dir, org, lambda conn, org_id: delivery_log(conn, org_id, endpoint_id, limit)),
    )


@webhooks_app.command("replay")
def replay(
    delivery_id: str, as_json: AsJson = False, data_dir: DataDir = None, org: Org = None
) -> None:
    """Send a delivery again (the running server's worker sends it)."""
    _run(data_dir, org, lambda conn, org_id: outbox.replay(conn, org_id, delivery_id, now_micros()))
    _show(as_json, {"replayed": delivery_id})


# The credits' and units' commands live in their own modules; importing them registers them
# on credits_app and units_app.
import margin.cli_credits  # noqa: E402
import margin.cli_units  # noqa: E402, F401
