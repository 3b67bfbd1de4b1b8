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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

__all__ = ["Plan", "Term", "Unit", "UnpricedError", "compile_terms"]


Evaluator = Callable[[Mapping[str, int]], Decimal]
NanoEvaluator = Callable[[Mapping[str, int]], int]
#: Nano-units per currency unit: amounts are stored as integer counts of 10⁻⁹.
_NANOS = 10**9


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


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    plus: tuple[str, ...]
    minus: tuple[str, ...]
    per_request: int
    rates: tuple[Decimal | int, ...]  # one per input-size band (see Plan)
    divisor: int


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
    # Tier thresholds of all terms; band b = how many of them the record's input exceeds.
    _starts: tuple[int, ...] = field(init=False, default=())
    _compiled: tuple[_Compiled, ...] = field(init=False, default=())
    #: ``evaluate(usage) -> Decimal``: the amount for canonical usage counts; raises
    #: ``UnpricedError`` on inconsistent usage (nested counts above their total).
    evaluate: Evaluator = field(init=False, repr=False, compare=False, default=None)  # type: ignore[assignment]
    #: ``nanos(usage) -> int``: the same amount in integer nano-units, when every rate is a
    #: whole number of nano-units per counted unit (most prices are): integer sums are
    #: exact and several times cheaper than Decimal ones. None otherwise.
    nanos: NanoEvaluator | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        starts = tuple(sorted({start for t in self.terms for start, _ in t.tiers}))
        compiled = []
        for t in self.terms:
            rates = []
            for band in range(len(starts) + 1):
                price = t.price
                for start, tier_price in t.tiers:
                    if band and start <= starts[band - 1]:
                        price = tier_price
                rates.append(_rate(price, t.per))
            plus = tuple(k for k, c in t.counts for _ in range(c) if c > 0 and k != "*request")
            minus = tuple(k for k, c in t.counts for _ in range(-c) if c < 0 and k != "*request")
            per_request = sum(c for k, c in t.counts if k == "*request")
            divisor = rates[0][1]
            compiled.append(
                _Compiled(t.name, plus, minus, per_request, tuple(r for r, _ in rates), divisor)
            )
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_compiled", tuple(compiled))
        object.__setattr__(self, "evaluate", _codegen(starts, tuple(compiled)))
        nano_rates = [_nano_rates(c) for c in compiled]
        if all(rates is not None for rates in nano_rates):
            whole = tuple(
                _Compiled(c.name, c.plus, c.minus, c.per_request, rates, 1)
                for c, rates in zip(compiled, nano_rates, strict=True)
                if rates is not None
            )
            object.__setattr__(self, "nanos", _codegen(starts, whole, zero=0))


def _nano_rates(compiled: _Compiled) -> tuple[int, ...] | None:
    """A term's rates in nano-units per unit, when all are whole numbers."""
    rates = []
    for rate in compiled.rates:
        nanos = Decimal(rate) * _NANOS / compiled.divisor
        if nanos != nanos.to_integral_value():
            return None
        rates.append(int(nanos))
    return tuple(rates)


def _codegen(
    starts: tuple[int, ...], compiled: tuple[_Compiled, ...], zero: Decimal | int = Decimal(0)
) -> Any:
    """Generate straight-line Python for one plan: each usage count is read once and each term
    is one integer sum and one multiply (by a Decimal rate, or an integer one in nano-units).
    A generic loop over terms costs ~3× more, and this runs once per record. Only our own
    usage key names reach the source text; prices are bound as values."""
    keys = sorted(
        {k for c in compiled for k in (*c.plus, *c.minus)} | ({"input_tokens"} if starts else set())
    )
    var = {k: f"v{i}" for i, k in enumerate(keys)}
    env: dict[str, Any] = {"ZERO": zero, "UnpricedError": UnpricedError}
    lines = ["def evaluate(usage):", "    get = usage.get"]
    lines += [f"    {var[k]} = get({k!r}, 0)" for k in keys]
    if any(c.per_request for c in compiled):
        lines.append("    requests = get('requests') or 1")
    band = "[band]" if starts else ""
    if starts:
        lines.append(
            "    band = " + " + ".join(f"({var['input_tokens']} > {int(s)})" for s in starts)
        )
    lines.append("    total = ZERO")
    for j, c in enumerate(compiled):
        parts = [var[k] for k in c.plus] + [f"- {var[k]}" for k in c.minus]
        if c.per_request:
            parts.append(f"{int(c.per_request)} * requests")
        expr = " + ".join(parts).replace("+ -", "-") or "0"
        env[f"R{j}"] = c.rates if starts else c.rates[0]
        env[f"M{j}"] = f"invalid usage: nested counts exceed their total for {c.name}"
        divide = f" / {int(c.divisor)}" if c.divisor != 1 else ""
        lines += [
            f"    n = {expr}",
            "    if n:",
            "        if n < 0:",
            f"            raise UnpricedError(M{j})",
            f"        total += R{j}{band} * n{divide}",
        ]
    lines.append("    return total")
    exec("\n".join(lines), env)
    return env["evaluate"]
