"""Currency codes: which ISO 4217 codes Margin accepts, and their minor units.

The list is the ISO 4217 table shipped by the ``iso4217`` package (current codes). Exchange
rates also accept a few withdrawn codes for which the ECB published reference rates, so that
its full history (``eurofxref-hist.xml``) imports as it is; a reporting currency must be a
current code.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from pydantic import AfterValidator, Field

__all__ = [
    "WITHDRAWN",
    "CurrencyCode",
    "check_currency",
    "currency_problem",
    "current_currencies",
    "is_currency",
    "minor_units",
]

#: Withdrawn codes still found in the ECB's reference-rate history.
WITHDRAWN = frozenset({"BGN", "CYP", "EEK", "HRK", "LTL", "LVL", "MTL", "ROL", "SIT", "SKK", "TRL"})


@cache
def _table() -> dict[str, int | None]:
    from iso4217 import Currency

    return {c.code: c.exponent for c in Currency}


def current_currencies() -> frozenset[str]:
    """The current ISO 4217 codes."""
    return frozenset(_table())


def is_currency(code: str, *, withdrawn: bool = False) -> bool:
    """Whether ``code`` is a current ISO 4217 code (or, with ``withdrawn``, one of
    ``WITHDRAWN``). Codes are three capital letters: ``eur`` is not one."""
    return code in _table() or (withdrawn and code in WITHDRAWN)


def currency_problem(value: object, *, withdrawn: bool = False) -> str | None:
    """Why ``value`` is not a currency code (see ``is_currency``); None when it is one."""
    if isinstance(value, str) and is_currency(value, withdrawn=withdrawn):
        return None
    shown = value if isinstance(value, str) else type(value).__name__
    return f"{str(shown)[:16]!r} is not an ISO 4217 currency code (three capitals, e.g. EUR)"


def check_currency(value: object, name: str = "currency", *, withdrawn: bool = False) -> str:
    """``value`` if it is a currency code (see ``is_currency``), else ``ValueError`` whose
    message starts with ``name``."""
    problem = currency_problem(value, withdrawn=withdrawn)
    if problem is not None:
        raise ValueError(f"{name}: {problem}")
    assert isinstance(value, str)
    return value


def _current(value: str) -> str:
    problem = currency_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


#: A money currency in a request model: a current ISO 4217 code ("ZZZ" is refused, naming
#: the field, where it would otherwise be stored and found to have no rate in every report).
CurrencyCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="A current ISO 4217 code, e.g. EUR."),
    AfterValidator(_current),
]


def minor_units(code: str) -> int | None:
    """Decimal places of the currency's minor unit (USD 2, JPY 0, BHD 3); None for codes
    without one (XAU) and codes that are not current."""
    return _table().get(code)
