"""``margin prices …``: the price book from the command line (``margin costs reprice`` is in
``margin.cli_costs``).

These work on the local store (like ``margin keys``), for the first organization unless
``--org`` names another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from margin._money import format_decimal
from margin._time import isoformat, now_micros, parse_bound
from margin.cli_output import AsJson, print_json
from margin.cli_store import open_org

if TYPE_CHECKING:
    from margin.pricing import PriceOverride

__all__ = ["app"]

app = typer.Typer(help="Model prices: catalog, tenant overrides, quotes.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="The store's data dir.")]
Org = Annotated[str | None, typer.Option(help="Organization id (default: the first).")]


def _when(text: str | None, option: str) -> int:
    if text is None:
        return now_micros()
    try:
        return parse_bound(text, option)
    except ValueError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from None


@app.command("show")
def show(
    model: str,
    provider: Annotated[str | None, typer.Option(help="Provider id, e.g. openai.")] = None,
    at: Annotated[str | None, typer.Option(help="Date or time (default now).")] = None,
    as_json: AsJson = False,
    org: Org = None,
    data_dir: DataDir = None,
) -> None:
    """The catalog price of MODEL and the organization's overrides for it (--json: as
    ``GET /v1/prices/catalog`` answers)."""
    from margin.pricing import list_overrides
    from margin.pricing.catalog import CATALOG_VERSION, catalog_sheet
    from margin.server.routes.prices import render_override

    at_us = _when(at, "--at")
    sheet = catalog_sheet(provider, model, at_us, None)
    db, org_id = open_org(data_dir, org)
    overrides = list_overrides(db, org_id, provider=provider, model=model)
    terms: list[dict[str, Any]] = [
        {
            "kind": term.name,
            "price": format_decimal(term.price),
            "per": term.per,
            "tiers": [{"start": s, "price": format_decimal(p)} for s, p in term.tiers],
        }
        for term in sheet.terms
    ]
    if as_json:
        print_json(
            {
                "catalog": CATALOG_VERSION,
                "ref": sheet.ref,
                "reason": sheet.reason,
                "currency": sheet.currency,
                "at": isoformat(at_us),
                "prices": [] if sheet.reason else terms,
                "overrides": [render_override(o).model_dump() for o in overrides],
            }
        )
        return
    if sheet.reason:
        console.print(f"catalog: {sheet.reason}")
    else:
        table = Table(title=f"{sheet.ref} at {isoformat(at_us)} ({sheet.currency})")
        for column in ("kind", "price", "per", "tiers"):
            table.add_column(column, no_wrap=column != "tiers")
        for t in terms:
            tiers = ", ".join(f"≥{x['start']}: {x['price']}" for x in t["tiers"])
            table.add_row(t["kind"], t["price"], f"{t['per']:,}", tiers)
        console.print(table)
    for o in overrides:
        prices = ", ".join(f"{k} {format_decimal(v)}" for k, v in o.prices.items())
        console.print(
            f"override {o.id}: {o.provider}/{o.model_pattern} {prices} {o.currency} "
            f"from {isoformat(o.effective_from)}",
            highlight=False,
            soft_wrap=True,
        )


def _preview(override: PriceOverride) -> bool:
    """Show the catalog models the override will price; whether any."""
    from margin.pricing import covered_models

    models = covered_models(override.provider, override.model_pattern)
    target = f"{override.provider}/{override.model_pattern}"
    if not models:
        console.print(
            f"{target} matches no catalog model: it prices only records naming such a model."
        )
        return False
    table = Table("provider", "model", "also named", title=f"{target} will price")
    for found in models:
        others = [n for n in found.names if n != found.model]
        table.add_row(found.provider, found.model, ", ".join(others))
    console.print(table)
    return True


@app.command("set")
def set_(
    model: Annotated[
        str,
        typer.Argument(
            help="Model id (covers its dated snapshots, as the catalog resolves them) or a "
            "glob pattern (matches names as text)."
        ),
    ],
    price: Annotated[
        list[str],
        typer.Option("--price", help="KIND=AMOUNT per million tokens, e.g. input=0.10 (repeat)."),
    ],
    provider: Annotated[str, typer.Option(help="Provider id, or '*'.")] = "*",
    currency: str = "USD",
    effective_from: Annotated[
        str | None, typer.Option("--from", help="Date or time (default now).")
    ] = None,
    effective_to: Annotated[
        str | None, typer.Option("--to", help="Date or time (open-ended if absent).")
    ] = None,
    note: str | None = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Save without asking to confirm the models.")
    ] = False,
    org: Org = None,
    data_dir: DataDir = None,
) -> None:
    """Set a tenant price override. The catalog models it will price are listed first, and
    it is saved once you confirm them (or with --yes)."""
    from margin.pricing import OverrideError, check_override, store_override

    prices: dict[str, str] = {}
    for entry in price:
        kind, sep, amount = entry.partition("=")
        if not sep:
            err.print(f"--price: '{entry}' is not KIND=AMOUNT")
            raise typer.Exit(2)
        prices[kind.strip()] = amount.strip()
    db, org_id = open_org(data_dir, org)
    try:
        override = check_override(
            org_id,
            provider=provider,
            model=model,
            prices=prices,
            currency=currency,
            effective_from=_when(effective_from, "--from") if effective_from else None,
            effective_to=_when(effective_to, "--to") if effective_to else None,
            note=note,
        )
    except OverrideError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from None
    if _preview(override) and not yes and not typer.confirm("Save this override?"):
        err.print("not saved")
        raise typer.Exit(1)
    store_override(db, override)
    console.print(f"override {override.id} set for {override.provider}/{override.model_pattern}")


@app.command("quote")
def quote(
    model: str,
    usage: Annotated[str, typer.Option(help="Usage JSON, e.g. '{\"input_tokens\": 1000}'.")],
    provider: Annotated[
        str | None, typer.Option(help="Provider id (default: the catalog's, from the model).")
    ] = None,
    at: str | None = None,
    batch: Annotated[bool, typer.Option("--batch", help="Batch API prices.")] = False,
    as_json: AsJson = False,
    org: Org = None,
    data_dir: DataDir = None,
) -> None:
    """Price a usage block without storing it (the exact amount, never rounded)."""
    from margin.pricing import Pricer

    try:
        block = json.loads(usage)
    except json.JSONDecodeError as exc:
        err.print(f"--usage: not JSON ({exc})")
        raise typer.Exit(2) from None
    if not isinstance(block, dict):
        err.print("--usage: must be a JSON object")
        raise typer.Exit(2)
    db, org_id = open_org(data_dir, org)
    result = Pricer(db).price(
        org_id,
        provider,
        model,
        block,
        _when(at, "--at"),
        {"processing": "batch"} if batch else None,
    )
    if as_json:
        from margin.server.routes.prices import render_quote

        print_json(render_quote(result).model_dump())
    if result.amount is None:
        if not as_json:
            console.print(f"unpriced: {result.unpriced_reason}")
        raise typer.Exit(1)
    if as_json:
        return
    console.print(
        f"{format_decimal(result.amount)} {result.currency} ({result.priced_by}: {result.price_ref})"
    )
