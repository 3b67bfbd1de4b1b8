"""``margin attribution …``: which span, resource or baggage attributes name the customer
and the agent of OTLP traces, straight on the store (like ``margin org``). JSON output
(``--json``) is what ``/v1/organization/attribution`` answers."""

from __future__ import annotations

from typing import Annotated

import typer

from margin.cli_fx import AsJson, DataDir, Org, console
from margin.cli_output import print_json
from margin.cli_reports import fail
from margin.cli_store import open_org

__all__ = ["attribution_app"]

attribution_app = typer.Typer(
    help="Map the attributes your agents already set (user.id, tenant.id…) to customers.",
    no_args_is_help=True,
)

CustomerKey = Annotated[
    list[str] | None,
    typer.Option(
        "--customer-key",
        help="An attribute naming the customer, best first (repeat; '' maps none).",
    ),
]
AgentKey = Annotated[
    list[str] | None,
    typer.Option(
        "--agent-key", help="An attribute naming the agent, best first (repeat; '' maps none)."
    ),
]


def _print(body: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(body)
        return
    for name in ("customer_keys", "agent_keys"):
        keys = body[name]
        assert isinstance(keys, list)
        builtin = body[f"builtin_{name}"]
        assert isinstance(builtin, list)
        shown = ", ".join(keys) if keys else "—"
        console.print(f"{name}: {shown}  (after {', '.join(builtin)})", highlight=False)


@attribution_app.command("show")
def show(org: Org = None, as_json: AsJson = False, data_dir: DataDir = None) -> None:
    """Show which attributes name a trace's customer and agent."""
    from margin.server.routes.party_mapping import render_mapping
    from margin.store.party_mapping import get_mapping

    db, org_id = open_org(data_dir, org)
    with db.read() as conn:
        found = get_mapping(conn, org_id)
    _print(render_mapping(found).model_dump(), as_json)


@attribution_app.command("set")
def set_(
    customer_key: CustomerKey = None,
    agent_key: AgentKey = None,
    org: Org = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """Replace the customer or agent keys; the list not given stays as it is."""
    from margin.server.routes.party_mapping import render_mapping
    from margin.store.party_mapping import MappingError, set_mapping

    if customer_key is None and agent_key is None:
        fail("nothing to change: pass --customer-key or --agent-key (see --help)")
    customers = None if customer_key is None else [k for k in customer_key if k != ""]
    agents = None if agent_key is None else [k for k in agent_key if k != ""]
    try:
        db, org_id = open_org(data_dir, org)
        with db.write() as conn:
            found = set_mapping(conn, org_id, customers, agents)
    except MappingError as exc:
        fail(str(exc))
    _print(render_mapping(found).model_dump(), as_json)
