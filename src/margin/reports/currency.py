"""Report figures in the organization's reporting currency.

Facts are kept in the currency they were recorded in; a report shown in one currency
converts each figure with the rate of **its UTC date** (``margin.fx``). Every report converts
at one fixed grain, whatever it groups by: a **cell** is one value of every dimension a report
can group by (customer, agent, event name, provider, model) × one UTC day of the period ×
one original currency × one measure (cost of one source — ``ai``, ``manual``, ``meter`` — or
revenue). Each cell is converted once (amount × rate, half-even to the nano-unit, as
``margin.fx`` states), and a report's rows, windows and totals are sums of converted cells.
So a total is exactly the sum of its rows, a group's cost the sum of its sources, and two
reports of one period show the same number for the same group, to the nano-unit.

A window that starts inside a UTC day (a time zone's midnight, an hour) splits cells: the
pieces of a cell before a cut sum to the cell's amount converted up to that cut (cumulative
rounding), so the pieces add up to the cell and a window holds the same converted figure
however finely the rest of the day is cut.

A figure with no rate for its date is **unconverted**: it is kept apart in its own currency
on the row (``Row.unconverted``), never counted as zero and never added to a converted sum;
the row's profit and margin are then unknown (null). When every figure of a report is
already in the reporting currency nothing is re-read: conversion is the identity, exact at
any grain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from functools import cache
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, exists, select

from margin._money import format_decimal, from_nanos
from margin._time import DAY_US
from margin.billing.facts import stretch_start
from margin.fx.conversion import Quote, RateTable, rate_table
from margin.fx.rates import micros_day
from margin.reports.facts import DIMENSIONS, Facts, Row
from margin.store.schema import cost_rollups_daily, meters, plans

__all__ = ["GRAIN", "Converter", "day_cuts", "flagged", "tracked_missing", "unconverted"]

#: The dimensions every converted figure is read and converted by, whatever a report groups
#: by: every dimension a report can group by.
GRAIN = DIMENSIONS


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
        read: Callable[[Sequence[str], Sequence[int] | None], Facts],
    ) -> Facts:
        """The facts of [lo, hi) by ``dims`` and ``windows`` in the target currency; ``read``
        reads facts by the dimensions and windows it is given. Where nothing can need
        converting the facts are read once by ``dims`` and ``windows`` and kept; otherwise
        they are read by ``GRAIN`` per UTC day, converted cell by cell and summed."""
        if self.identity(lo, hi):
            facts = read(dims, windows)
            if not self.needed(facts, dims):
                return facts
        stretches = self.stretches(lo, hi, windows)
        fine = read(GRAIN, stretches)
        self._load(lo, hi)
        n, into = len(GRAIN), _Into(dims, list(windows) if windows is not None else [lo])
        # Windows starting inside a UTC day cut its cells in pieces, converted in time order.
        cut = any(a // DAY_US == b // DAY_US for a, b in pairwise(stretches))
        rows = sorted(fine.rows.items(), key=lambda item: item[0][n]) if cut else fine.rows.items()
        ratios: dict[tuple[str, int], tuple[int, int] | None] = {}
        running: dict[tuple[Any, ...], tuple[int, int]] = {}
        out = Facts()
        for key, row in rows:
            grain, stretch, currency = key[:n], key[n], key[n + 1]
            target = out.rows[(*into.group(grain), into.window(stretch), self.currency)]
            target.records += row.records
            target.unpriced += row.unpriced
            target.has_cost |= row.has_cost
            target.has_revenue |= row.has_revenue
            day = stretch - stretch % DAY_US
            if (currency, day) not in ratios:
                quote = self._quote(currency, day)
                ratios[currency, day] = None if quote is None else _ratio(quote.rate)
            ratio = ratios[currency, day]
            if ratio is None:
                _keep_apart(target, currency, row)
                continue
            cell = (grain, currency, day) if cut else None
            for source, nanos in row.sources.items():
                if nanos:
                    converted = _piece(running, cell, source, nanos, ratio)
                    target.sources[source] = target.sources.get(source, 0) + converted
                    target.cost += converted
            if row.revenue:
                target.revenue += _piece(running, cell, "", row.revenue, ratio)
        for key, count in fine.signals.items():
            out.signals[(*into.group(key[:n]), into.window(key[n]))] += count
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


def _keep_apart(target: Row, currency: str, row: Row) -> None:
    """A piece with no rate: its figures are kept in their own currency on the row."""
    missing = target.unconverted.setdefault(currency, [0, 0])
    missing[0] += row.cost
    missing[1] += row.revenue
    by_source = target.unconverted_sources.setdefault(currency, {})
    for source, nanos in row.sources.items():
        by_source[source] = by_source.get(source, 0) + nanos


class _Into:
    """Where a ``GRAIN`` key and a stretch go in a report by ``dims`` and windows ``starts``
    (remembered: a report's cells share a few groups and stretches)."""

    def __init__(self, dims: Sequence[str], starts: list[int]) -> None:
        self.picks, self.starts = [GRAIN.index(d) for d in dims], starts
        self._groups: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._windows: dict[int, int] = {}

    def group(self, grain: tuple[Any, ...]) -> tuple[Any, ...]:
        found = self._groups.get(grain)
        if found is None:
            found = self._groups[grain] = tuple(grain[i] for i in self.picks)
        return found

    def window(self, stretch: int) -> int:
        found = self._windows.get(stretch)
        if found is None:
            found = self._windows[stretch] = stretch_start(self.starts, stretch)
        return found


def _piece(
    running: dict[tuple[Any, ...], tuple[int, int]],
    cell: tuple[Any, ...] | None,
    measure: str,
    nanos: int,
    ratio: tuple[int, int],
) -> int:
    """One piece of a ``cell``'s ``measure`` converted: the cell's amount up to the piece's
    end converted, less what its earlier pieces got, so that the pieces add up to the cell
    converted whole (``cell`` None: the piece is the whole cell)."""
    if cell is None:
        return _times(nanos, ratio)
    amount, converted = running.get((cell, measure), (0, 0))
    amount += nanos
    now = _times(amount, ratio)
    running[cell, measure] = (amount, now)
    return now - converted


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


def _times(nanos: int, ratio: tuple[int, int]) -> int:
    """amount × rate (as the ``ratio`` numerator / denominator), half-even to the nano-unit:
    what ``margin.fx`` does for one figure, in integers (a report converts thousands of
    cells)."""
    num, den = ratio
    q, r = divmod(nanos * num, den)
    twice = 2 * r
    if twice > den or (twice == den and q % 2):
        q += 1
    return q


def _day(day_us: int) -> date:
    return micros_day(day_us)
