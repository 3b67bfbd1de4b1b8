"""Converting amounts between currencies with the organization's exchange rates.

Which rate applies to a figure dated ``at``: a rate dated on ``at``'s UTC date, or else the
latest one up to ``LOOKBACK_DAYS`` earlier (so weekends and holidays, when the ECB publishes
nothing, use the last business day's rate). A rate may come

- ``direct``: a rate of the pair (from → to);
- ``inverse``: a rate of the opposite pair (to → from), inverted;
- ``cross``: through one common currency (USD → EUR → GBP from the ECB's EUR rates), each
  leg direct or inverse, dated the older of its legs' dates.

The most recent of these wins; on the same date direct comes before inverse before cross,
and crosses through different currencies in alphabetical order of that currency. An amount in
the target currency itself is converted by ``identity``.

Rounding, stated once: a converted amount is ``amount × rate`` rounded half-even to the
nano-unit (10⁻⁹); a derived rate (inverse or cross) is first rounded half-even to
``RATE_DIGITS`` significant digits, and that is the rate reported, so every converted figure
is its amount times its reported rate. A figure with no applicable rate is ``missing``: its
converted amount is None, never zero and never left in its own currency.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import Literal

from sqlalchemy import Connection, or_, select

from margin._time import DAY_US, EARLIEST
from margin.fx.rates import RATE_DIGITS, Rate, micros_day
from margin.store.schema import exchange_rates

__all__ = [
    "LOOKBACK_DAYS",
    "Conversion",
    "Method",
    "Quote",
    "RateTable",
    "Total",
    "convert",
    "convert_many",
    "rate_table",
]

#: How many days before a figure's date a rate may be dated and still apply to it.
LOOKBACK_DAYS = 7

Method = Literal["identity", "direct", "inverse", "cross"]
_PRIORITY = {"direct": 2, "inverse": 1, "cross": 0}
_EPOCH_DAY = EARLIEST.date().toordinal()


@dataclass(frozen=True, slots=True)
class Quote:
    """The rate that converts one currency into another on a date."""

    rate: Decimal
    method: Method
    #: The rate's date (for a cross, the older leg's); None for identity.
    day: date | None = None
    #: The common currency of a cross rate.
    via: str | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    """An amount converted, with the rate used; ``missing`` when no rate applies."""

    amount_nanos: int | None
    currency: str
    source_nanos: int
    source_currency: str
    rate: Decimal | None
    rate_date: date | None
    method: Method | None
    via: str | None
    missing: bool


@dataclass
class Total:
    """A sum of converted figures in one currency, with the figures that could not be
    converted kept apart per original currency (never dropped, never mixed in)."""

    currency: str
    amount_nanos: int = 0
    #: Original currency → the sum of its figures that had no rate.
    missing: dict[str, int] = field(default_factory=dict)

    def add(self, conversion: Conversion) -> None:
        if conversion.currency != self.currency:
            raise ValueError(f"a {conversion.currency} figure added to a {self.currency} total")
        if conversion.amount_nanos is None:
            ccy = conversion.source_currency
            self.missing[ccy] = self.missing.get(ccy, 0) + conversion.source_nanos
        else:
            self.amount_nanos += conversion.amount_nanos

    @property
    def complete(self) -> bool:
        """Whether every figure added was converted."""
        return not self.missing


@dataclass(frozen=True, slots=True)
class _Leg:
    value: Fraction
    day: int
    method: Method


class RateTable:
    """An organization's rates over a span of days, held in memory: quotes are computed once
    per (from, to, date) and reused.

    A table loaded by ``rate_table`` answers only for the days and currencies it was loaded
    for, and refuses other questions (``ValueError``) rather than answer "missing" wrongly.
    """

    def __init__(
        self,
        rates: Iterable[Rate],
        *,
        lookback_days: int = LOOKBACK_DAYS,
        days: tuple[int, int] | None = None,
        currencies: frozenset[str] | None = None,
    ) -> None:
        self.lookback_days = lookback_days
        self._days = days
        self._currencies = currencies
        series: dict[tuple[str, str], dict[int, Decimal]] = {}
        for r in rates:
            series.setdefault((r.base, r.quote), {})[r.day.toordinal() - _EPOCH_DAY] = r.rate
        self._pairs: dict[tuple[str, str], tuple[list[int], list[Decimal]]] = {}
        self._neighbours: dict[str, set[str]] = {}
        for (base, quote), by_day in series.items():
            ordered = sorted(by_day)
            self._pairs[(base, quote)] = (ordered, [by_day[d] for d in ordered])
            self._neighbours.setdefault(base, set()).add(quote)
            self._neighbours.setdefault(quote, set()).add(base)
        self._quotes: dict[tuple[str, str, int], Quote | None] = {}

    def quote(self, from_ccy: str, to_ccy: str, at_us: int) -> Quote | None:
        """The rate converting ``from_ccy`` to ``to_ccy`` for a figure at ``at_us``, or None."""
        if from_ccy == to_ccy:
            return Quote(Decimal(1), "identity")
        day = at_us // DAY_US
        self._check(from_ccy, to_ccy, day)
        key = (from_ccy, to_ccy, day)
        if key not in self._quotes:
            self._quotes[key] = self._find(from_ccy, to_ccy, day)
        return self._quotes[key]

    def convert(self, amount_nanos: int, from_ccy: str, to_ccy: str, at_us: int) -> Conversion:
        """``amount_nanos`` of ``from_ccy`` in ``to_ccy`` at the rate of ``at_us``'s date."""
        found = self.quote(from_ccy, to_ccy, at_us)
        if found is None:
            return Conversion(
                None, to_ccy, amount_nanos, from_ccy, None, None, None, None, missing=True
            )
        converted = round(amount_nanos * Fraction(found.rate))  # half-even on a Fraction
        return Conversion(
            converted,
            to_ccy,
            amount_nanos,
            from_ccy,
            found.rate,
            found.day,
            found.method,
            found.via,
            missing=False,
        )

    def convert_many(self, items: Iterable[tuple[int, str, int]], to_ccy: str) -> list[Conversion]:
        """Convert (amount_nanos, currency, at_us) items to ``to_ccy``, in order."""
        return [self.convert(amount, ccy, to_ccy, at) for amount, ccy, at in items]

    def _check(self, from_ccy: str, to_ccy: str, day: int) -> None:
        if self._days is not None and not self._days[0] <= day <= self._days[1]:
            raise ValueError(f"{micros_day(day * DAY_US)} is outside this rate table's days")
        if self._currencies is not None and not {from_ccy, to_ccy} <= self._currencies:
            raise ValueError(f"{from_ccy}→{to_ccy} is outside this rate table's currencies")

    def _find(self, a: str, b: str, day: int) -> Quote | None:
        candidates: list[tuple[int, int, str, Fraction, Method]] = []
        leg = self._leg(a, b, day)
        if leg is not None:
            candidates.append((leg.day, _PRIORITY[leg.method], "", leg.value, leg.method))
        for via in sorted(self._neighbours.get(a, set()) & self._neighbours.get(b, set())):
            first, second = self._leg(a, via, day), self._leg(via, b, day)
            if first is not None and second is not None:
                value = first.value * second.value
                candidates.append((min(first.day, second.day), 0, via, value, "cross"))
        if not candidates:
            return None
        # Latest date first, then direct > inverse > cross, then the cross's currency A→Z.
        best = min(candidates, key=lambda c: (-c[0], -c[1], c[2]))
        rate = _rounded(best[3])
        return Quote(rate, best[4], micros_day(best[0] * DAY_US), best[2] or None)

    def _leg(self, a: str, b: str, day: int) -> _Leg | None:
        """The latest direct or inverse rate of a → b in the look-back window."""
        direct = self._latest(a, b, day)
        inverse = self._latest(b, a, day)
        if direct is not None and (inverse is None or direct[0] >= inverse[0]):
            return _Leg(Fraction(direct[1]), direct[0], "direct")
        if inverse is not None:
            return _Leg(1 / Fraction(inverse[1]), inverse[0], "inverse")
        return None

    def _latest(self, base: str, quote: str, day: int) -> tuple[int, Decimal] | None:
        found = self._pairs.get((base, quote))
        if found is None:
            return None
        days, rates = found
        i = bisect_right(days, day) - 1
        if i < 0 or days[i] < day - self.lookback_days:
            return None
        return days[i], rates[i]


def _rounded(value: Fraction) -> Decimal:
    """A rate as a Decimal, rounded half-even to ``RATE_DIGITS`` significant digits."""
    with localcontext() as ctx:
        ctx.prec = RATE_DIGITS
        ctx.rounding = ROUND_HALF_EVEN
        return Decimal(value.numerator) / Decimal(value.denominator)


def rate_table(
    conn: Connection,
    org_id: str,
    start_us: int,
    end_us: int,
    currencies: Iterable[str] | None = None,
    *,
    lookback_days: int = LOOKBACK_DAYS,
) -> RateTable:
    """The organization's rates that can apply to figures dated in ``[start_us, end_us]``,
    in one query. With ``currencies`` (every currency converted from or to), only the rates
    naming one of them are loaded: a direct, inverse or cross rate between two of them
    always names one."""
    first, last = start_us // DAY_US, end_us // DAY_US
    t = exchange_rates
    query = select(t.c.base, t.c.quote, t.c.day, t.c.rate).where(
        t.c.org_id == org_id,
        t.c.day >= (first - lookback_days) * DAY_US,
        t.c.day <= last * DAY_US,
    )
    wanted = None
    if currencies is not None:
        wanted = frozenset(currencies)
        query = query.where(or_(t.c.base.in_(sorted(wanted)), t.c.quote.in_(sorted(wanted))))
    rates = [Rate(r.base, r.quote, micros_day(r.day), Decimal(r.rate)) for r in conn.execute(query)]
    return RateTable(rates, lookback_days=lookback_days, days=(first, last), currencies=wanted)


def convert(
    conn: Connection, org_id: str, amount_nanos: int, from_ccy: str, to_ccy: str, at_us: int
) -> Conversion:
    """Convert one amount (loads the rates of its date; use ``rate_table`` for many)."""
    table = rate_table(conn, org_id, at_us, at_us, {from_ccy, to_ccy})
    return table.convert(amount_nanos, from_ccy, to_ccy, at_us)


def convert_many(
    conn: Connection, org_id: str, items: Iterable[tuple[int, str, int]], to_ccy: str
) -> list[Conversion]:
    """Convert (amount_nanos, currency, at_us) items to ``to_ccy`` with one query for all,
    e.g. a report's sums per (day, currency)."""
    batch = list(items)
    if not batch:
        return []
    times = [at for _amount, _ccy, at in batch]
    currencies = {ccy for _amount, ccy, _at in batch} | {to_ccy}
    table = rate_table(conn, org_id, min(times), max(times), currencies)
    return table.convert_many(batch, to_ccy)
