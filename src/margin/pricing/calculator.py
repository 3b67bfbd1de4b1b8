"""Compiled prices: a price list turned into a few linear terms over canonical usage counts.

Usage units nest (cache reads are input tokens, reasoning tokens are output tokens, image input
tokens are input tokens…). As in genai-prices, every *priced* unit is billed on its leaf count:
its own count minus the leaf counts of the priced units nested inside it. So cache tokens are
never billed twice, and reasoning tokens fall under ``output`` unless the price list has its own
reasoning rate. Compiling that subtraction once per resolved price leaves only a handful of
integer sums and Decimal multiplications per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, NamedTuple

__all__ = ["PriceSheet", "Term", "Unit", "UnpricedError", "compile_terms"]

#: Nano-units per currency unit: amounts are stored as integer counts of 10⁻⁹.
_NANOS = 10**9


class UnpricedError(ValueError):
    """The usage cannot be priced by this price (for example inconsistent nested counts)."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One billable unit: its nesting dimensions, the canonical usage key that counts it (None
    when canonical usage has no such count, ``"*request"`` for "one per record") and its size."""

    name: str
    dimensions: frozenset[tuple[str, str]]
    source: str | None
    per: int


@dataclass(frozen=True, slots=True)
class Term:
    """``price × Σ(sign × count) / per``; ``tiers`` (ascending ``(start, price)``) switch the
    price for every token once the record's total input tokens exceed ``start`` (cliff)."""

    name: str
    counts: tuple[tuple[str, int], ...]
    price: Decimal
    per: int
    tiers: tuple[tuple[int, Decimal], ...] = ()


def compile_terms(
    priced: Sequence[tuple[Unit, Decimal, tuple[tuple[int, Decimal], ...]]],
) -> tuple[Term, ...]:
    """Turn (unit, price, tiers) entries into leaf-count terms (see module docstring)."""
    # Most specific units first, so that a unit's descendants are resolved before it.
    ordered = sorted(priced, key=lambda e: (-len(e[0].dimensions), e[0].name))
    leaves: dict[str, dict[str, int]] = {}
    terms: list[Term] = []
    for unit, price, tiers in ordered:
        vector: dict[str, int] = {}
        if unit.source is not None:
            vector[unit.source] = 1
        if unit.source != "*request":
            for other, _, _ in ordered:
                if (
                    other is not unit
                    and other.source != "*request"
                    and other.name in leaves
                    and unit.dimensions <= other.dimensions
                ):
                    for key, coef in leaves[other.name].items():
                        vector[key] = vector.get(key, 0) - coef
        leaves[unit.name] = vector
        counts = tuple((k, c) for k, c in sorted(vector.items()) if c)
        if counts:
            terms.append(Term(unit.name, counts, price, unit.per, tiers))
    return tuple(terms)


def _rate(price: Decimal, per: int) -> tuple[Decimal, int]:
    """``price / per`` exactly when ``per`` is a power of ten (then no division per record)."""
    text = str(per)
    if text.startswith("1") and set(text[1:]) <= {"0"}:
        return price.scaleb(-(len(text) - 1)), 1
    return price, per


class _Compiled(NamedTuple):
    """One term, ready to evaluate: the counts it adds and subtracts, how many per record it
    bills, its rate per input-size band, and a divisor (1 when the rate is already per unit)."""

    name: str
    plus: tuple[str, ...]
    minus: tuple[str, ...]
    per_request: int
    rates: tuple[Decimal, ...]
    divisor: int


def _compile(term: Term, starts: tuple[int, ...]) -> _Compiled:
    rates = []
    for band in range(len(starts) + 1):
        price = term.price
        for start, tier_price in term.tiers:
            if band and start <= starts[band - 1]:
                price = tier_price
        rates.append(_rate(price, term.per))
    return _Compiled(
        term.name,
        tuple(k for k, c in term.counts for _ in range(c) if c > 0 and k != "*request"),
        tuple(k for k, c in term.counts for _ in range(-c) if c < 0 and k != "*request"),
        sum(c for k, c in term.counts if k == "*request"),
        tuple(rate for rate, _ in rates),
        rates[0][1],
    )


def _nano_rates(term: _Compiled) -> tuple[int, ...] | None:
    """A term's rates in nano-units per unit, when all are whole numbers."""
    rates = []
    for rate in term.rates:
        nanos = rate * _NANOS / term.divisor
        if nanos != nanos.to_integral_value():
            return None
        rates.append(int(nanos))
    return tuple(rates)


class PriceSheet:
    """The price of one (org, provider, model, time, context), resolved and ready to apply
    to canonical usage counts: from the catalog, an override, or ``unpriced`` with a reason.
    Immutable once made."""

    __slots__ = (
        "_compiled",
        "_nano_rates",
        "_starts",
        "currency",
        "priced_by",
        "reason",
        "ref",
        "terms",
        "volatility",
    )

    def __init__(
        self,
        priced_by: Literal["catalog", "override", "unpriced"],
        currency: str,
        ref: str | None,
        terms: tuple[Term, ...] = (),
        reason: str | None = None,
        volatility: int = 0,
    ) -> None:
        self.priced_by = priced_by
        self.currency = currency
        self.ref = ref
        self.terms = terms
        self.reason = reason
        #: 0: valid for the whole UTC day; 1: varies within the day by time of day (per
        #: minute); 2: an override starts/ends inside the day, so resolve per record.
        self.volatility = volatility
        # Tier thresholds of all terms; a record's band is how many of them its input exceeds.
        self._starts = tuple(sorted({start for t in terms for start, _ in t.tiers}))
        self._compiled = tuple(_compile(t, self._starts) for t in terms)
        nano_rates = [_nano_rates(c) for c in self._compiled]
        self._nano_rates: tuple[tuple[int, ...], ...] | None = (
            None if any(r is None for r in nano_rates) else tuple(r for r in nano_rates if r)
        )

    def with_volatility(self, volatility: int) -> PriceSheet:
        """The same price, resolved again as often as ``volatility`` says."""
        return PriceSheet(
            self.priced_by, self.currency, self.ref, self.terms, self.reason, volatility
        )

    def _band(self, usage: Mapping[str, int]) -> int:
        band = 0
        if self._starts:
            tokens = usage.get("input_tokens", 0)
            for start in self._starts:
                band += tokens > start
        return band

    def evaluate(self, usage: Mapping[str, int]) -> Decimal:
        """The amount for canonical usage counts; raises ``UnpricedError`` on inconsistent
        usage (nested counts above their total)."""
        get = usage.get
        band = self._band(usage)
        total = Decimal(0)
        for name, plus, minus, per_request, rates, divisor in self._compiled:
            n = _count(get, plus, minus, per_request, name)
            if n:
                total += rates[band] * n / divisor if divisor != 1 else rates[band] * n
        return total

    def nanos(self, usage: Mapping[str, int]) -> int | None:
        """``evaluate`` in integer nano-units, when every rate is a whole number of
        nano-units per counted unit (most prices are): integer sums are exact and cheaper than
        Decimal ones. None otherwise (use ``evaluate``)."""
        nano_rates = self._nano_rates
        if nano_rates is None:
            return None
        get = usage.get
        band = self._band(usage)
        total = 0
        for (name, plus, minus, per_request, _, _), rates in zip(
            self._compiled, nano_rates, strict=True
        ):
            n = _count(get, plus, minus, per_request, name)
            if n:
                total += rates[band] * n
        return total


def _count(
    get: Callable[[str, int], int],
    plus: tuple[str, ...],
    minus: tuple[str, ...],
    per_request: int,
    name: str,
) -> int:
    n = 0
    for key in plus:
        n += get(key, 0)
    for key in minus:
        n -= get(key, 0)
    if per_request:
        n += per_request * (get("requests", 0) or 1)
    if n < 0:
        raise UnpricedError(f"invalid usage: nested counts exceed their total for {name}")
    return n
