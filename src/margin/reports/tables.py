"""Report tables: rows of cost (with its sources), revenue, profit and margin % per group
(and window), with tracking modes honoured, sorting, top N + "Other", the prior period and
CSV.

A value that is not tracked is ``None`` (JSON null), never zero, and no profit or margin is
computed from it (``margin.reports.modes``); revenue never reaches provider/model groups.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from margin._calendar import periods_between, prior_start
from margin._money import format_decimal, from_nanos
from margin._time import isoformat
from margin.billing.revenue import PeriodLines, rate_customers
from margin.reports.currency import Converter, flagged, tracked_missing, unconverted
from margin.reports.facts import SOURCES, Facts, Filters, read_facts
from margin.reports.modes import Tracking, pinned_of
from margin.store.schema import agents, customers

__all__ = [
    "Table",
    "build_table",
    "change_pct",
    "figures",
    "fold_top",
    "labels",
    "margin_pct",
    "money",
    "render_row",
    "revenue_lines",
    "to_csv",
    "unconverted",
]

Table = list[dict[str, Any]]
_COLUMNS = ["cost", "revenue", "profit", "margin_pct", "signals", "records", "unpriced"]


def margin_pct(profit: int | None, revenue: int | None) -> str | None:
    """Profit as a percentage of revenue, two decimals; None when undefined."""
    if profit is None or not revenue:
        return None
    return format_decimal((Decimal(profit) * 100 / Decimal(revenue)).quantize(Decimal("0.01")))


def change_pct(now: int | None, before: int | None) -> str | None:
    """Relative change in percent, two decimals; None when the prior value is 0 or absent."""
    if now is None or not before:
        return None
    change = (Decimal(now) - Decimal(before)) * 100 / abs(Decimal(before))
    return format_decimal(change.quantize(Decimal("0.01")))


def money(nanos: int | None) -> str | None:
    """Nano-units as a decimal string (None stays None)."""
    return None if nanos is None else format_decimal(from_nanos(nanos))


#: The label of the row of facts recorded for no customer (its key is ``null``).
_NO_ONE = {"customer": "Unassigned"}


def labels(
    conn: Connection,
    org_id: str,
    dims: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    tracking: Tracking | None = None,
) -> dict[tuple[str, str], str]:
    """Display names of the customers and agents among ``keys`` (and their modes, for
    ``tracking``)."""
    out: dict[tuple[str, str], str] = {}
    for dim, table in (("customer", customers), ("agent", agents)):
        if dim not in dims:
            continue
        index = list(dims).index(dim)
        wanted = sorted({k[index] for k in keys if k[index]})
        for start in range(0, len(wanted), 500):
            rows = conn.execute(
                select(table.c.id, table.c.external_id, table.c.name, table.c.tracking_mode).where(
                    table.c.org_id == org_id, table.c.id.in_(wanted[start : start + 500])
                )
            ).all()
            out.update({(dim, r.id): r.name or r.external_id for r in rows})
            if tracking is not None:
                tracking.remember(dim, {r.id: r.tracking_mode for r in rows})
    return out


def _numbers(
    facts: Facts,
    dims: Sequence[str],
    filters: Filters,
    tracking: Tracking,
    idle: bool = False,
    converted: bool = False,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    pins = {"customer": filters.customers, "agent": filters.agents}
    for kind in ("customer", "agent"):
        known = list(filters.customers or []) if kind == "customer" else list(filters.agents or [])
        costed: list[str] = []
        if kind in dims:
            at = list(dims).index(kind)
            known += [key[at] for key in facts.rows]
            costed = [key[at] for key, row in facts.rows.items() if row.has_cost]
        tracking.know(kind, known, costed)
    no_revenue = any(d in ("provider", "model") for d in dims)
    # Rows of one group (per window and currency) share their tracking decisions.
    decided: dict[tuple[Any, ...], tuple[bool, bool]] = {}
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key, row in facts.rows.items():
        if not row.has_cost and not row.has_revenue:
            continue
        group, window, currency = key[: len(dims)], key[len(dims)], key[len(dims) + 1]
        tracked = decided.get(group)
        if tracked is None:
            pinned = pinned_of(dict(zip(dims, group, strict=True)), pins)
            has_revenue = not no_revenue and tracking.row("revenue", pinned)
            tracked = decided[group] = (tracking.row("cost", pinned), has_revenue)
        cost = row.cost if tracked[0] else None
        revenue = row.revenue if tracked[1] else None
        missing = tracked_missing(row.unconverted, tracked)
        out[key] = {
            "group": group,
            "window": window,
            "currency": currency,
            "cost": cost,
            "sources": None if cost is None else {s: row.sources.get(s, 0) for s in SOURCES},
            "revenue": revenue,
            # A profit missing a figure that had no rate would be wrong: unknown instead.
            "profit": None if cost is None or revenue is None or missing else revenue - cost,
            "records": row.records,
            "unpriced": row.unpriced,
            "signals": facts.signals.get((*group, window), 0),
        }
        if converted:
            out[key].update(unconverted=missing, unconverted_sources=row.unconverted_sources)
    if idle:
        seen = {(*key[: len(dims)], key[len(dims)]) for key in out}
        for signal_key, n in facts.signals.items():
            group, window = signal_key[: len(dims)], signal_key[len(dims)]
            if signal_key not in seen:
                out[(*signal_key, None)] = {
                    "group": group,
                    "window": window,
                    "currency": None,
                    "cost": None,
                    "sources": None,
                    "revenue": None,
                    "profit": None,
                    "records": 0,
                    "unpriced": 0,
                    "signals": n,
                }
                if converted:
                    out[(*signal_key, None)]["unconverted"] = {}
    return out


def fold_top(rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """Keep ``top`` rows per currency; sum the rest into one "Other" row per currency."""
    kept: list[dict[str, Any]] = []
    other: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for row in rows:
        currency = row["currency"]
        seen[currency] = seen.get(currency, 0) + 1
        if seen[currency] <= top:
            kept.append(row)
            continue
        acc = other.setdefault(
            currency,
            {
                **row,
                "group": None,
                "is_other": True,
                "label": "Other",
                "signals": 0,
                "records": 0,
                "unpriced": 0,
                "cost": None,
                "sources": None,
                "revenue": None,
                "profit": None,
            },
        )
        for name in ("cost", "revenue", "profit"):
            if row[name] is not None:
                acc[name] = (acc[name] or 0) + row[name]
        if row["sources"] is not None:
            acc["sources"] = {
                s: (acc["sources"] or {}).get(s, 0) + n for s, n in row["sources"].items()
            }
        for name in ("signals", "records", "unpriced"):
            acc[name] += row[name]
        if "unconverted" in row:
            merged = {c: list(v) for c, v in acc.get("unconverted", {}).items()}
            for c, (cost, revenue) in row["unconverted"].items():
                slot = merged.setdefault(c, [0, 0])
                slot[0], slot[1] = slot[0] + cost, slot[1] + revenue
            acc["unconverted"] = merged
            if merged:
                acc["profit"] = None
    return kept + list(other.values())


def build_table(
    conn: Connection,
    org_id: str,
    lo: int,
    hi: int,
    dims: Sequence[str],
    filters: Filters,
    *,
    windows: Sequence[int] | None = None,
    sort: str = "profit",
    descending: bool = True,
    top: int | None = None,
    compare: bool = False,
    tracking: Tracking | None = None,
    lines: list[PeriodLines] | None = None,
    idle: bool = False,
    convert: Converter | None = None,
) -> Table:
    """The report rows (money still in nano-units; see ``render_row``).

    ``lines`` are the rated lines to place (``revenue_lines``), when the caller shares them
    between tables; ``idle`` keeps groups that only have signals (no cost, no revenue).
    With ``convert`` every figure is converted to its currency at the rate of its date
    (``margin.reports.currency``): given ``lines`` must then be cut at every UTC midnight
    of the period (``convert.cuts``)."""
    tracking = tracking or Tracking(conn, org_id)
    prior_lo = prior_start(lo, hi)
    # Revenue never reaches provider/model groups, even when read by every dimension.
    revenue = not any(d in ("provider", "model") for d in dims)
    if lines is None and compare and revenue:
        # One rating for both periods: the lines cover them, cut at their common bound.
        cuts = [lo, *(windows or [])]
        if convert is not None:
            cuts += convert.cuts(prior_lo, hi)
        lines = revenue_lines(conn, org_id, prior_lo, hi, filters, cuts)

    def read(a: int, b: int, starts: Sequence[int] | None) -> Facts:
        def by(grain: Sequence[str], cuts: Sequence[int] | None) -> Facts:
            return read_facts(
                conn, org_id, a, b, grain, filters, cuts, lines=lines, revenue=revenue
            )

        return by(dims, starts) if convert is None else convert.convert(dims, a, b, starts, by)

    converted = convert is not None
    facts = read(lo, hi, windows)
    groups = [key[: len(dims)] for key in facts.rows]
    if idle:
        groups += [key[: len(dims)] for key in facts.signals]
    names = labels(conn, org_id, dims, groups, tracking)
    numbers = _numbers(facts, dims, filters, tracking, idle, converted)
    prior: dict[tuple[Any, ...], dict[str, Any]] = {}
    if compare:
        earlier = read(prior_lo, lo, None)
        numbered = _numbers(earlier, dims, filters, tracking, converted=converted)
        prior = {(*v["group"], v["currency"]): v for v in numbered.values()}
    rows = []
    for value in numbers.values():
        parts = [
            names.get((d, g), g) or _NO_ONE.get(d, "(none)")
            for d, g in zip(dims, value["group"], strict=False)
        ]
        row = {**value, "label": " / ".join(parts) if parts else "All", "is_other": False}
        if compare:
            row["prior"] = prior.get((*value["group"], value["currency"]))
        rows.append(row)

    def sort_key(row: dict[str, Any]) -> Any:
        if sort == "label":
            return row["label"]
        if sort == "margin_pct":
            pct = margin_pct(row["profit"], row["revenue"])
            return Decimal(pct) if pct is not None else Decimal("-Infinity")
        value = row[sort]
        return Decimal("-Infinity") if value is None else Decimal(value)

    rows.sort(key=lambda r: (r["window"], r["currency"] or "", r["label"]))
    rows.sort(key=sort_key, reverse=descending)
    rows.sort(key=lambda r: r["window"])
    if top is not None and windows is None:
        rows = fold_top(rows, top)
    return rows


def revenue_lines(
    conn: Connection,
    org_id: str,
    lo: int,
    hi: int,
    filters: Filters,
    cuts: Sequence[int] = (),
) -> list[PeriodLines]:
    """The lines of the billing periods overlapping [lo, hi), with pieces cut at ``lo``,
    ``hi`` and ``cuts`` (window starts), for ``build_table`` to place."""
    return rate_customers(
        conn,
        org_id,
        periods_between(lo, hi),
        customer_ids=filters.customers,
        cuts=[lo, hi, *cuts],
        field="from",
    )


def figures(row: dict[str, Any]) -> dict[str, Any]:
    """A row's money figures in JSON shape (cost, revenue, profit, margin %), with the
    figures that had no exchange rate when there are some: what totals show."""
    out: dict[str, Any] = {
        "cost": money(row["cost"]),
        "revenue": money(row["revenue"]),
        "profit": money(row["profit"]),
        "margin_pct": margin_pct(row["profit"], row["revenue"]),
        **flagged(row),
    }
    return out


def render_row(row: dict[str, Any], dims: Sequence[str], windowed: bool) -> dict[str, Any]:
    """The JSON shape of one report row: decimal strings, nulls where not tracked."""
    sources = row["sources"]
    out: dict[str, Any] = {
        "key": None
        if row["group"] is None
        else dict(zip(dims, [g or None for g in row["group"]], strict=False)),
        "label": row["label"],
        "is_other": row["is_other"],
        "currency": row["currency"],
        "cost": money(row["cost"]),
        "cost_by_source": None
        if sources is None
        else {s: money(sources.get(s, 0)) for s in SOURCES},
        "revenue": money(row["revenue"]),
        "profit": money(row["profit"]),
        "margin_pct": margin_pct(row["profit"], row["revenue"]),
        "signals": row["signals"],
        "records": row["records"],
        "unpriced": row["unpriced"],
        **flagged(row),
    }
    if windowed:
        out["window_start"] = isoformat(row["window"])
    if "prior" in row:
        prior = row["prior"] or {}
        out["prior"] = {
            "cost": money(prior.get("cost")),
            "revenue": money(prior.get("revenue")),
            "profit": money(prior.get("profit")),
            "margin_pct": margin_pct(prior.get("profit"), prior.get("revenue")),
        }
        out["change_pct"] = {
            name: change_pct(row[name], prior.get(name)) for name in ("cost", "revenue", "profit")
        }
    return out


def to_csv(rows: list[dict[str, Any]], dims: Sequence[str]) -> str:
    """CSV of rendered rows: one column per dimension, then the numbers (exact), then the
    cost by source."""
    buffer = io.StringIO()
    windowed = any("window_start" in r for r in rows)
    head = [*dims] + (["window_start"] if windowed else []) + ["label", "currency", *_COLUMNS]
    writer = csv.writer(buffer, lineterminator="\n")
    # Converted rows with figures that had no rate get a column saying which (and only then).
    flagged = any(r.get("unconverted") for r in rows)
    writer.writerow([*head, *(f"cost_{s}" for s in SOURCES)] + (["unconverted"] if flagged else []))
    for row in rows:
        key = row["key"] or {}
        cells = [key.get(d) or "" for d in dims] + ([row["window_start"]] if windowed else [])
        cells += [row["label"], row["currency"]]
        cells += ["" if row[n] is None else row[n] for n in _COLUMNS]
        sources = row["cost_by_source"] or {}
        cells += [sources.get(s) or "" for s in SOURCES]
        if flagged:
            cells.append(
                "; ".join(
                    f"{item[name]} {item['currency']} {name}"
                    for item in row.get("unconverted", [])
                    for name in ("cost", "revenue")
                    if item[name] is not None
                )
            )
        writer.writerow(cells)
    return buffer.getvalue()
