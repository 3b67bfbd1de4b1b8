"""Compiled prices: a price list turned into a few linear terms over canonical usage counts.

Usage units nest (cache reads are input tokens, reasoning tokens are output tokens, image input
tokens are input tokens…). As in genai-prices, every *priced* unit is billed on its leaf count:
its own count minus the leaf counts of the priced units nested inside it. So cache tokens are
never billed twice, and reasoning tokens fall under ``output`` unless the price list has its own
reasoning rate. Compiling that subtraction once per resolved price leaves only a handful of
integer sums and Decimal multiplications per record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = ["Plan", "Term", "Unit", "UnpricedError", "compile_terms"]


class UnpricedError(ValueError):
    """The usage cannot be priced by this plan (for example inconsistent nested counts)."""


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
    priced: list[tuple[Unit, Decimal, tuple[tuple[int, Decimal], ...]]],
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


@dataclass(frozen=True, slots=True)
class Plan:
    """A resolved price for (org, provider, model, time, context), ready to evaluate."""

    priced_by: Literal["catalog", "override", "unpriced"]
    currency: str
    ref: str | None
    terms: tuple[Term, ...] = ()
    reason: str | None = None
    # 0: valid for the whole UTC day; 1: varies within the day by time of day (per minute);
    # 2: an override starts/ends inside the day, so resolve per record.
    volatility: int = 0

    def evaluate(self, usage: Mapping[str, int]) -> Decimal:
        """The amount for canonical usage counts; raises ``UnpricedError`` on inconsistent usage."""
        total = Decimal(0)
        get = usage.get
        for term in self.terms:
            count = 0
            for key, coef in term.counts:
                if key == "*request":
                    count += coef * (get("requests") or 1)
                else:
                    count += coef * get(key, 0)
            if count < 0:
                raise UnpricedError(
                    f"invalid usage: nested counts exceed their total for {term.name}"
                )
            if not count:
                continue
            price = term.price
            if term.tiers:
                total_input = get("input_tokens", 0)
                for start, tier_price in reversed(term.tiers):
                    if total_input > start:
                        price = tier_price
                        break
            total += price * count / term.per
        return total
