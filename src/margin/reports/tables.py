"""Report tables: rows of cost, revenue, profit and margin % per group (and window), with
tracking modes honoured, sorting, top N + "Other", the prior period and CSV.

A value that was not recorded is ``None`` (JSON null), never zero: revenue of a cost-only
customer or agent (and of provider/model groups, which revenue does not reach), cost of a
revenue-only one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from margin._money import format_decimal, from_nanos
from margin._time import isoformat
from margin.reports.facts import Facts, Filters, read_facts
from margin.store.schema import agents, customers

__all__ = ["Table", "build_table", "change_pct", "margin_pct", "to_csv"]

Table = list[dict[str, Any]]
_SORTS = ("profit", "revenue", "cost", "margin_pct", "signals", "label")


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


def _money(nanos: int | None) -> str | None:
    return None if nanos is None else format_decimal(from_nanos(nanos))


def labels(
    conn: Connection, org_id: str, dims: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> dict[tuple[str, str], str]:
    """Display names of the customers and agents among ``keys``."""
    out: dict[tuple[str, str], str] = {}
    for dim, table in (("customer", customers), ("agent", agents)):
        if dim not in dims:
            continue
        index = list(dims).index(dim)
        wanted = sorted({k[index] for k in keys if k[index]})
        for start in range(0, len(wanted), 500):
            rows = conn.execute(
                select(table.c.id, table.c.external_id, table.c.name).where(
                    table.c.org_id == org_id, table.c.id.in_(wanted[start : start + 500])
                )
            )
            out.update({(dim, r.id): r.name or r.external_id for r in rows})
    return out


def _mode(key: tuple[Any, ...], dims: Sequence[str], modes: dict[str, str]) -> tuple[bool, bool]:
    """(cost recorded, revenue recorded) for a group."""
    cost = revenue = True
    for dim, value in zip(dims, key, strict=False):
        mode = modes.get(value) if dim in ("customer", "agent") else None
        cost &= mode != "revenue_only"
        revenue &= mode != "cost_only"
    if any(d in ("provider", "model") for d in dims):
        revenue = False
    return cost, revenue


def _numbers(facts: Facts, dims: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key, row in facts.rows.items():
        group, window, currency = key[: len(dims)], key[len(dims)], key[len(dims) + 1]
        has_cost, has_revenue = _mode(group, dims, facts.modes)
        cost = row.cost if has_cost else None
        revenue = row.revenue if has_revenue else None
        if not row.has_cost and not row.has_revenue:
            continue
        profit = None if cost is None or revenue is None else revenue - cost
        out[key] = {
            "group": group,
            "window": window,
            "currency": currency,
            "cost": cost,
            "revenue": revenue,
            "profit": profit,
            "records": row.records,
            "unpriced": row.unpriced,
            "signals": facts.signals.get((*group, window), 0),
        }
    return out


def _fold(rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
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
                "revenue": None,
                "profit": None,
            },
        )
        for name in ("cost", "revenue", "profit"):
            if row[name] is not None:
                acc[name] = (acc[name] or 0) + row[name]
        for name in ("signals", "records", "unpriced"):
            acc[name] += row[name]
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
) -> Table:
    """The report rows (money still in nano-units; see ``render_row``)."""
    numbers = _numbers(read_facts(conn, org_id, lo, hi, dims, filters, windows), dims)
    prior: dict[tuple[Any, ...], dict[str, Any]] = {}
    if compare:
        before = _numbers(read_facts(conn, org_id, lo - (hi - lo), lo, dims, filters), dims)
        prior = {(*v["group"], v["currency"]): v for v in before.values()}
    names = labels(conn, org_id, dims, [v["group"] for v in numbers.values()])
    rows = []
    for value in numbers.values():
        parts = [
            names.get((d, g), g) or "(none)" for d, g in zip(dims, value["group"], strict=False)
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

    rows.sort(key=lambda r: (r["window"], r["currency"]))
    rows.sort(key=sort_key, reverse=descending)
    rows.sort(key=lambda r: r["window"])
    if top is not None and windows is None:
        rows = _fold(rows, top)
    return rows


def render_row(row: dict[str, Any], dims: Sequence[str], windowed: bool) -> dict[str, Any]:
    """The JSON shape of one report row: decimal strings, nulls where not recorded."""
    out: dict[str, Any] = {
        "key": None
        if row["group"] is None
        else dict(zip(dims, [g or None for g in row["group"]], strict=False)),
        "label": row["label"],
        "is_other": row["is_other"],
        "currency": row["currency"],
        "cost": _money(row["cost"]),
        "revenue": _money(row["revenue"]),
        "profit": _money(row["profit"]),
        "margin_pct": margin_pct(row["profit"], row["revenue"]),
        "signals": row["signals"],
        "records": row["records"],
        "unpriced": row["unpriced"],
    }
    if windowed:
        out["window_start"] = isoformat(row["window"])
    if "prior" in row:
        prior = row["prior"] or {}
        out["prior"] = {
            "cost": _money(prior.get("cost")),
            "revenue": _money(prior.get("revenue")),
            "profit": _money(prior.get("profit")),
            "margin_pct": margin_pct(prior.get("profit"), prior.get("revenue")),
        }
        out["change_pct"] = {
            name: change_pct(row[name], prior.get(name)) for name in ("cost", "revenue", "profit")
        }
    return out


def to_csv(rows: list[dict[str, Any]], dims: Sequence[str]) -> str:
    """CSV of rendered rows (one column per dimension, then the numbers)."""
    buffer = io.StringIO()
    windowed = any("window_start" in r for r in rows)
    head = ([*dims] if dims else []) + (["window_start"] if windowed else [])
    head += [
        "label",
        "currency",
        "cost",
        "revenue",
        "profit",
        "margin_pct",
        "signals",
        "records",
        "unpriced",
    ]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head)
    for row in rows:
        key = row["key"] or {}
        cells = [key.get(d) or "" for d in dims] + ([row["window_start"]] if windowed else [])
        cells += [row["label"], row["currency"]] + [
            "" if row[n] is None else row[n] for n in head[len(cells) + 2 :]
        ]
        writer.writerow(cells)
    return buffer.getvalue()
