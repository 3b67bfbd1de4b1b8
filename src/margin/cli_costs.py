"""``margin costs reprice``: re-price stored costs after a price change, with a preview.

It first prices without writing (a dry run) and shows the change per customer and currency
with totals, then asks before writing (unless ``--yes``); ``--dry-run`` stops after the
preview. Without ``--all`` only unpriced costs are re-priced, and it says how many priced
ones it left. The work is ``margin.pricing.reprice``'s; this module only asks and shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from margin._refusal import Refusal
from margin._time import parse_bound
from margin.cli_output import (
    AsJson,
    Column,
    DryRun,
    Yes,
    confirm,
    print_json,
    progress,
    render,
    totals,
)
from margin.cli_reports import fail
from margin.cli_store import open_org

if TYPE_CHECKING:
    from margin.pricing.reprice import Repriced

__all__ = ["app"]

app = typer.Typer(help="Stored costs.", no_args_is_help=True)
console = Console()

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="The store's data dir.")]
Org = Annotated[str | None, typer.Option(help="Organization id (default: the first).")]


def _when(text: str, option: str) -> int:
    try:
        return parse_bound(text, option)
    except ValueError as exc:
        fail(str(exc))
        raise


@app.command("reprice")
def reprice_costs(
    from_: Annotated[str, typer.Option("--from", help="Start date or time.")],
    to: Annotated[str, typer.Option(help="End date or time (exclusive).")],
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Also re-price priced records (never provided ones).")
    ] = False,
    dry_run: DryRun = False,
    yes: Yes = False,
    as_json: AsJson = False,
    org: Org = None,
    data_dir: DataDir = None,
) -> None:
    """Re-price stored costs after a price change. Shows the change per customer and in
    total first, and asks before changing anything (unless --yes); --dry-run only shows."""
    from margin.pricing import Pricer
    from margin.pricing.reprice import priced_count, reprice

    lo, hi = _when(from_, "--from"), _when(to, "--to")
    db, org_id = open_org(data_dir, org)
    pricer = Pricer(db)

    def run(dry: bool, label: str) -> list[Repriced]:
        with progress(label, enabled=not as_json) as advance:
            return reprice(
                db, pricer, org_id, lo, hi, model, only_unpriced=not all_,
                dry_run=dry, progress=advance,
            )  # fmt: skip

    try:  # a range reaching archived months is refused (an archive run may come between)
        changed = run(True, "Pricing")
        with db.read() as conn:
            skipped = 0 if all_ else priced_count(conn, org_id, lo, hi, model)
        if not dry_run and changed:
            if not as_json:
                _report_reprice(changed, skipped, title=f"{len(changed)} costs to re-price")
            confirm(f"Re-price these {len(changed)} costs?", yes)
            changed = run(False, "Re-pricing")
    except Refusal as exc:
        fail(exc.detail)
        raise
    if as_json:
        print_json(_reprice_body(changed, skipped, dry_run))
    elif dry_run or not changed:
        _report_reprice(changed, skipped, title=f"{len(changed)} costs would change (dry run)")
    else:
        console.print(f"{len(changed)} costs re-priced", highlight=False)


def _per_customer(changed: list[Repriced]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows per customer and currency, and their totals per currency (exact)."""
    from margin.pricing.reprice import by_customer

    rows = [{**c._asdict(), "change": c.change} for c in by_customer(changed)]
    return rows, totals(rows, ["old", "new", "change"], label="customer", counts=["costs"])


def _reprice_body(changed: list[Repriced], skipped: int, dry_run: bool) -> dict[str, Any]:
    rows, total_rows = _per_customer(changed)
    return {
        "dry_run": dry_run,
        "repriced": len(changed),
        "already_priced_skipped": skipped,
        "customers": rows,
        "totals": total_rows,
        "costs": [c._asdict() for c in changed],
    }


def _report_reprice(changed: list[Repriced], skipped: int, *, title: str) -> None:
    rows, total_rows = _per_customer(changed)
    if not changed:
        console.print("no cost's price would change", highlight=False)
    else:
        render(
            [{**r, "customer": r["customer"] or "(no customer)"} for r in rows],
            _REPRICE_COLUMNS,
            title=title,
            total_rows=total_rows,
            console=console,
        )
    if skipped:
        console.print(
            f"{skipped} costs already priced (catalog or override) were left as they are: "
            "pass --all to re-price them too.",
            highlight=False,
        )


_REPRICE_COLUMNS = (
    Column("customer"),
    Column("currency"),
    Column("costs", kind="count"),
    Column("old", kind="money"),
    Column("new", kind="money"),
    Column("change", kind="money"),
)
