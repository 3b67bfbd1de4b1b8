"""Report figures in the organization's reporting currency.

Facts are kept in the currency they were recorded in; a report shown in one currency
converts each figure with the rate of **its UTC date** (``margin.fx``). To do that the facts
are read per UTC day (every day of the period is a cut, beside the report's own windows),
each day's sum per currency is converted with that day's rate (amount × rate, half-even to
the nano-unit, as ``margin.fx`` states), and the converted days are added into the report's
windows. Cost is converted source by source, so that the sources still add up to it.

A figure with no rate for its date is **unconverted**: it is kept apart in its own currency
on the row (``Row.unconverted``), never counted as zero and never added to a converted sum;
the row's profit and margin are then unknown (null). When every figure of a report is
already in the reporting currency nothing is re-read: conversion is the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection, exists, select

from margin._money import format_decimal, from_nanos
from margin._time import DAY_US
from margin.billing.facts import stretch_start
from margin.fx.conversion import Quote, RateTable, rate_table
from margin.fx.rates import micros_day
from margin.reports.facts import Facts
from margin.store.schema import cost_rollups_daily, meters, plans

__all__ = ["Converter", "day_cuts", "flagged", "tracked_missing", "unconverted"]


def day_cuts(lo: int, hi: int) -> list[int]:
    """The UTC midnights strictly inside (lo, hi): where a rate may change."""
    return list(range(lo - lo % DAY_US + DAY_US, hi, DAY_US))


class Converter:
    """Converts report facts into ``currency`` with one organization's rates, and remembers
    the rates it used (``rates``), so that a report can show them beside its figures."""

    def __init__(self, conn: Connection, org_id: str, currency: str) -> None:
        self.conn, self.org_id, self.currency = conn, org_id, currency
        self._table: RateTable | None = None
        self._days: tuple[int, int] = (0, -1)
        #: (original currency, UTC day start) → the quote used (None: no rate).
        self.used: dict[tuple[str, int], Quote | None] = {}
        self._identity: dict[tuple[int, int], bool] = {}

    def identity(self, lo: int, hi: int) -> bool:
        """Whether every figure of [lo, hi) can only be in the target currency (no cost in
        another, no plan or cost meter in another), so that nothing needs converting: one
        query, remembered."""
        key = (lo, hi)
        if key not in self._identity:
            rollups = exists().where(
                cost_rollups_daily.c.org_id == self.org_id,
                cost_rollups_daily.c.bucket >= lo - lo % DAY_US,
                cost_rollups_daily.c.bucket < hi,
                cost_rollups_daily.c.currency != self.currency,
            )
            priced = exists().where(
                plans.c.org_id == self.org_id, plans.c.currency != self.currency
            )
            metered = exists().where(
                meters.c.org_id == self.org_id,
                meters.c.kind == "cost",
                meters.c.currency != self.currency,
            )
            found = bool(self.conn.execute(select(rollups | priced | metered)).scalar())
            self._identity[key] = not found
        return self._identity[key]

    def cuts(self, lo: int, hi: int) -> list[int]:
        """The cuts rated lines need for this converter over [lo, hi): every UTC midnight,
        unless nothing there needs converting."""
        return [] if self.identity(lo, hi) else day_cuts(lo, hi)

    def needed(self, facts: Facts, dims: Sequence[str]) -> bool:
        """Whether any figure of ``facts`` is in another currency than the target."""
        at = len(dims) + 1
        return any(key[at] != self.currency for key in facts.rows)

    def stretches(self, lo: int, hi: int, windows: Sequence[int] | None) -> list[int]:
        """The windows to read facts by: the report's own, cut at every UTC midnight."""
        return sorted({lo, *(windows or []), *day_cuts(lo, hi)})

    def convert(
        self,
        dims: Sequence[str],
        lo: int,
        hi: int,
        windows: Sequence[int] | None,
        read: Callable[[Sequence[int] | None], Facts],
    ) -> Facts:
        """The facts of [lo, hi) by ``windows`` in the target currency; ``read`` reads facts
        by the windows it is given. Where nothing can need converting the facts are read
        once by ``windows`` and kept; otherwise they are read per UTC day and converted."""
        n = len(dims)
        starts = list(windows) if windows is not None else [lo]
        if self.identity(lo, hi):
            facts = read(windows)
            if not self.needed(facts, dims):
                return facts
        daily = read(self.stretches(lo, hi, windows))
        self._load(lo, hi)
        out = Facts()
        for key, row in daily.rows.items():
            group, stretch, currency = key[:n], key[n], key[n + 1]
            window = stretch_start(starts, stretch)
            target = out.rows[(*group, window, self.currency)]
            target.records += row.records
            target.unpriced += row.unpriced
            target.has_cost |= row.has_cost
            target.has_revenue |= row.has_revenue
            quote = self._quote(currency, stretch)
            if quote is None:
                missing = target.unconverted.setdefault(currency, [0, 0])
                missing[0] += row.cost
                missing[1] += row.revenue
                by_source = target.unconverted_sources.setdefault(currency, {})
                for source, nanos in row.sources.items():
                    by_source[source] = by_source.get(source, 0) + nanos
                continue
            for source, nanos in row.sources.items():
                converted = _times(nanos, quote.rate)
                target.sources[source] = target.sources.get(source, 0) + converted
                target.cost += converted
            target.revenue += _times(row.revenue, quote.rate)
        for key, count in daily.signals.items():
            group, stretch = key[:n], key[n]
            window = stretch_start(starts, stretch)
            out.signals[(*group, window)] += count
        return out

    def rates(self) -> list[dict[str, Any]]:
        """The rates the converted figures used, per original currency and UTC date (``rate``
        null: no rate applies, the figures of that date are unconverted)."""
        out = []
        for (currency, day), quote in sorted(self.used.items()):
            if currency == self.currency:
                continue
            out.append(
                {
                    "currency": currency,
                    "date": _day(day).isoformat(),
                    "rate": None if quote is None else format_decimal(quote.rate),
                    "rate_date": None if quote is None or quote.day is None else str(quote.day),
                    "method": None if quote is None else quote.method,
                    "via": None if quote is None else quote.via,
                }
            )
        return out

    # -- internals ---------------------------------------------------------------------------

    def _load(self, lo: int, hi: int) -> None:
        first, last = lo // DAY_US, (hi - 1) // DAY_US
        if self._table is not None and self._days[0] <= first and last <= self._days[1]:
            return
        if self._table is not None:
            first, last = min(first, self._days[0]), max(last, self._days[1])
        self._table = rate_table(self.conn, self.org_id, first * DAY_US, last * DAY_US)
        self._days = (first, last)

    def _quote(self, currency: str, at: int) -> Quote | None:
        assert self._table is not None
        day = at - at % DAY_US
        key = (currency, day)
        if key not in self.used:
            self.used[key] = self._table.quote(currency, self.currency, day)
        return self.used[key]


def tracked_missing(missing: dict[str, list[int]], tracked: tuple[bool, bool]) -> dict[str, Any]:
    """Per original currency, the tracked cost and revenue that had no rate (nano-units)."""
    out = {}
    for currency, (cost, revenue) in sorted(missing.items()):
        shown = [cost if tracked[0] else 0, revenue if tracked[1] else 0]
        if any(shown):
            out[currency] = shown
    return out


def unconverted(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A converted row's figures that had no rate, per original currency (JSON shape);
    rows show them only when there are some."""
    return [
        {"currency": c, "cost": _money(cost), "revenue": _money(revenue)}
        for c, (cost, revenue) in row.get("unconverted", {}).items()
    ]


def flagged(row: dict[str, Any]) -> dict[str, Any]:
    """``{"unconverted": [...]}`` for a row with figures that had no rate, else ``{}``: the
    key a rendered row carries only when there are some."""
    shown = unconverted(row)
    return {"unconverted": shown} if shown else {}


def _money(nanos: int) -> str | None:
    return format_decimal(from_nanos(nanos)) if nanos else None


@cache
def _ratio(rate: Decimal) -> tuple[int, int]:
    return rate.as_integer_ratio()


def _times(nanos: int, rate: Decimal) -> int:
    """amount × rate, half-even to the nano-unit: what ``margin.fx`` does for one figure,
    in integers (a report converts thousands of day sums)."""
    if not nanos or rate == 1:
        return nanos
    num, den = _ratio(rate)
    q, r = divmod(nanos * num, den)
    twice = 2 * r
    if twice > den or (twice == den and q % 2):
        q += 1
    return q


def _day(day_us: int) -> date:
    return micros_day(day_us)
