"""Cost by model, grouped by the catalog model each reported name means.

Providers report dated snapshots (``gpt-4o-2024-08-06``) beside the model's name
(``gpt-4o``); a report row per name splits one model in several rows. Here the rows of a
(provider, model) table are grouped by the catalog model that ``resolve`` finds for them,
with the names as reported inside; a name the catalog does not know is its own group. Sums
are exact (nano-units), as in every report."""

from __future__ import annotations

from typing import Any

from margin.pricing.model_names import resolve
from margin.reports.currency import flagged
from margin.reports.tables import money

__all__ = ["by_catalog_model"]


def _add(a: int | None, b: int | None) -> int | None:
    return a if b is None else (b if a is None else a + b)


def _merge(into: dict[str, list[int]], missing: dict[str, list[int]]) -> None:
    for currency, (cost, revenue) in missing.items():
        pair = into.setdefault(currency, [0, 0])
        pair[0] += cost
        pair[1] += revenue


def _snapshot(row: dict[str, Any]) -> dict[str, Any]:
    provider, model = row["group"]
    return {
        "provider": provider or None,
        "model": model or None,
        "label": row["label"],
        "cost": money(row["cost"]),
        "records": row["records"],
        "unpriced": row["unpriced"],
        **flagged(row),
    }


def by_catalog_model(rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """``rows``: an unfolded ``build_table(..., ["provider", "model"], ...)``. The ``top``
    groups by cost per currency, then one "Other" group per currency with the rest."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        provider, model = row["group"]
        found = resolve(provider or None, model) if model else None
        key = (row["currency"] or "", *(found or (provider or "", model or "")))
        group = groups.setdefault(
            key,
            {
                "provider": key[1] or None,
                "model": key[2] or None,
                "in_catalog": found is not None,
                "currency": row["currency"],
                "cost": None,
                "records": 0,
                "unpriced": 0,
                "snapshots": [],
                "missing": {},
            },
        )
        _merge(group["missing"], row.get("unconverted") or {})
        group["cost"] = _add(group["cost"], row["cost"])
        group["records"] += row["records"]
        group["unpriced"] += row["unpriced"]
        group["snapshots"].append(row)
    ordered = sorted(groups.values(), key=lambda g: (g["currency"] or "", g["model"] or ""))
    ordered.sort(key=lambda g: -(g["cost"] or 0))
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    other: dict[str, dict[str, Any]] = {}
    for group in ordered:
        currency = group["currency"]
        seen[currency] = seen.get(currency, 0) + 1
        if seen[currency] > top:
            acc = other.setdefault(
                currency,
                {**group, "provider": None, "model": None, "in_catalog": False, "cost": None}
                | {"records": 0, "unpriced": 0, "snapshots": [], "is_other": True}
                | {"missing": {}},
            )
            _merge(acc["missing"], group["missing"])
            acc["cost"] = _add(acc["cost"], group["cost"])
            acc["records"] += group["records"]
            acc["unpriced"] += group["unpriced"]
            continue
        out.append(group)
    out.extend(other.values())
    rendered = []
    for group in out:
        snapshots = sorted(group["snapshots"], key=lambda r: (-(r["cost"] or 0), r["label"]))
        label = (
            "Other"
            if group.get("is_other")
            else " / ".join(x for x in (group["provider"], group["model"]) if x)
        )
        missing = group.pop("missing")
        rendered.append(
            {
                **group,
                **flagged({"unconverted": missing}),
                "label": label or "(none)",
                "is_other": bool(group.get("is_other")),
                "cost": money(group["cost"]),
                "snapshots": [_snapshot(r) for r in snapshots],
            }
        )
    return rendered
