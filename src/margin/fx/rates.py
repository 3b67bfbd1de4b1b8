"""The exchange rates an organization manages: validated, stored exactly, listed, deleted.

A rate says that on a date one unit of ``base`` buys ``rate`` units of ``quote`` (the ECB's
``USD 1.0867`` is base ``EUR``, quote ``USD``). There is at most one rate per organization,
pair and date: setting it again replaces it. Rates are exact decimals, never floats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from margin._currency import currency_problem
from margin._money import MoneyError, format_decimal, parse_amount
from margin._time import DAY_US, EARLIEST, LATEST, now_micros
from margin.store.organization import check_text
from margin.store.schema import exchange_rates

__all__ = [
    "RATE_DIGITS",
    "RATE_MAX",
    "RATE_MIN",
    "SOURCE_MAX",
    "Rate",
    "RateError",
    "Written",
    "check_rate",
    "day_micros",
    "delete_rate",
    "get_rate",
    "list_rates",
    "micros_day",
    "parse_day",
    "parse_rate",
    "set_rates",
]

#: Significant digits a rate may have, and that a derived (inverse or cross) rate is rounded to.
RATE_DIGITS = 20
RATE_MIN = Decimal("1e-12")
RATE_MAX = Decimal("1e12")
SOURCE_MAX = 64
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CHUNK = 2000


class RateError(ValueError):
    """A rate that cannot be stored; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Rate:
    """One unit of ``base`` buys ``rate`` units of ``quote`` on ``day``."""

    base: str
    quote: str
    day: date
    rate: Decimal
    source: str = "manual"
    #: When this value was stored (µs); None before it is.
    created_at: int | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """What ``set_rates`` did: new pairs-and-dates, changed ones, and ones already so."""

    created: int
    updated: int
    unchanged: int


def day_micros(day: date) -> int:
    """The UTC midnight of ``day`` in µs since the epoch."""
    return (day - EARLIEST.date()).days * DAY_US


def micros_day(micros: int) -> date:
    """The UTC date of a time in µs since the epoch."""
    return date.fromordinal(EARLIEST.date().toordinal() + micros // DAY_US)


def parse_day(value: object, field: str = "date") -> date:
    """A date written ``YYYY-MM-DD`` inside the accepted range (1970 … 2199)."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if not _DATE.match(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise RateError(field, f"{str(value)[:40]!r} is not a date (YYYY-MM-DD)") from None
    if not EARLIEST.date() <= day < LATEST.date():
        raise RateError(
            field,
            f"{text} is outside the accepted range "
            f"{EARLIEST.date().isoformat()} … {LATEST.date().isoformat()}",
        )
    return day


def parse_rate(value: object, field: str = "rate") -> Decimal:
    """A rate from a decimal string (or an integer): positive, between 10⁻¹² and 10¹², at
    most ``RATE_DIGITS`` significant digits. Floats are refused: they are not exact."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise RateError(field, 'must be a decimal string, e.g. "1.0867"')
    try:
        rate = parse_amount(value)  # the same decimal grammar as every amount
    except MoneyError:
        raise RateError(field, f"{str(value)[:40]!r} is not a decimal number") from None
    if not rate.is_finite() or rate <= 0:
        raise RateError(field, "must be a positive number")
    if not RATE_MIN <= rate <= RATE_MAX:
        raise RateError(field, f"must lie between {RATE_MIN:f} and {RATE_MAX:f}")
    if len(rate.normalize().as_tuple().digits) > RATE_DIGITS:
        raise RateError(field, f"must have at most {RATE_DIGITS} significant digits")
    return Decimal(format_decimal(rate))


def check_rate(
    base: object, quote: object, day: object, rate: object, source: object = "manual"
) -> Rate:
    """A validated ``Rate``; ``RateError`` names the first bad field."""
    for name, code in (("base", base), ("quote", quote)):
        problem = currency_problem(code, withdrawn=True)
        if problem is not None:
            raise RateError(name, problem)
    if base == quote:
        raise RateError("quote", "must differ from base")
    try:
        label = check_text(source, SOURCE_MAX).strip()
    except ValueError as exc:
        raise RateError("source", str(exc)) from None
    if not label:
        raise RateError("source", "must not be empty")
    return Rate(
        base=str(base),
        quote=str(quote),
        day=day if isinstance(day, date) else parse_day(day),
        rate=parse_rate(rate),
        source=label,
    )


def _from_row(row: Any) -> Rate:
    return Rate(
        base=row.base,
        quote=row.quote,
        day=micros_day(row.day),
        rate=Decimal(row.rate),
        source=row.source,
        created_at=row.created_at,
    )


def set_rates(conn: Connection, org_id: str, rates: Sequence[Rate]) -> Written:
    """Store validated rates (see ``check_rate``), replacing those of the same pair and date.
    A rate equal to the stored one, from the same source, is left as it is."""
    latest: dict[tuple[str, str, int], tuple[str, str]] = {}
    for rate in rates:
        key = (rate.base, rate.quote, day_micros(rate.day))
        latest[key] = (format_decimal(rate.rate), rate.source)
    if not latest:
        return Written(0, 0, 0)
    existing = _existing(conn, org_id, latest)
    now = now_micros()
    changed = [
        {
            "org_id": org_id,
            "base": key[0],
            "quote": key[1],
            "day": key[2],
            "rate": value[0],
            "source": value[1],
            "created_at": now,
        }
        for key, value in latest.items()
        if existing.get(key) != value
    ]
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(exchange_rates)
    stmt = stmt.on_conflict_do_update(
        index_elements=["org_id", "base", "quote", "day"],
        set_={"rate": stmt.excluded.rate, "source": stmt.excluded.source, "created_at": now},
    )
    for start in range(0, len(changed), _CHUNK):
        conn.execute(stmt, changed[start : start + _CHUNK])
    created = sum(1 for key in latest if key not in existing)
    return Written(created, len(changed) - created, len(latest) - len(changed))


def _existing(
    conn: Connection, org_id: str, wanted: dict[tuple[str, str, int], tuple[str, str]]
) -> dict[tuple[str, str, int], tuple[str, str]]:
    """The stored (rate, source) of the wanted pairs and dates (rates are stored canonical,
    so equal rates have equal text)."""
    t = exchange_rates
    days = [key[2] for key in wanted]
    rows = conn.execute(
        select(t.c.base, t.c.quote, t.c.day, t.c.rate, t.c.source).where(
            t.c.org_id == org_id,
            t.c.day >= min(days),
            t.c.day <= max(days),
            t.c.base.in_(sorted({key[0] for key in wanted})),
        )
    )
    found: dict[tuple[str, str, int], tuple[str, str]] = {}
    for base, quote, day, rate, source in rows:
        if (base, quote, day) in wanted:
            found[(base, quote, day)] = (rate, source)
    return found


def get_rate(conn: Connection, org_id: str, base: str, quote: str, day: date) -> Rate | None:
    t = exchange_rates
    row = conn.execute(
        select(t).where(
            t.c.org_id == org_id, t.c.base == base, t.c.quote == quote, t.c.day == day_micros(day)
        )
    ).first()
    return _from_row(row) if row else None


def delete_rate(conn: Connection, org_id: str, base: str, quote: str, day: date) -> bool:
    """Delete one rate; False when there is none."""
    t = exchange_rates
    result = conn.execute(
        delete(t).where(
            t.c.org_id == org_id, t.c.base == base, t.c.quote == quote, t.c.day == day_micros(day)
        )
    )
    return result.rowcount == 1


def list_rates(
    conn: Connection,
    org_id: str,
    *,
    base: str | None = None,
    quote: str | None = None,
    currencies: Iterable[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    source: str | None = None,
    after: tuple[date, str, str] | None = None,
    limit: int = 100,
) -> list[Rate]:
    """Rates newest date first, then by base and quote. ``start``/``end`` are inclusive;
    ``currencies`` keeps rates naming one of them (as base or quote); ``after`` continues a
    listing after the (date, base, quote) of its last rate."""
    t = exchange_rates
    query = select(t).where(t.c.org_id == org_id)
    if base is not None:
        query = query.where(t.c.base == base)
    if quote is not None:
        query = query.where(t.c.quote == quote)
    if currencies is not None:
        wanted = sorted(set(currencies))
        query = query.where(or_(t.c.base.in_(wanted), t.c.quote.in_(wanted)))
    if start is not None:
        query = query.where(t.c.day >= day_micros(start))
    if end is not None:
        query = query.where(t.c.day <= day_micros(end))
    if source is not None:
        query = query.where(t.c.source == source)
    if after is not None:
        day, b, q = day_micros(after[0]), after[1], after[2]
        query = query.where(
            or_(
                t.c.day < day,
                and_(t.c.day == day, or_(t.c.base > b, and_(t.c.base == b, t.c.quote > q))),
            )
        )
    query = query.order_by(t.c.day.desc(), t.c.base, t.c.quote).limit(limit)
    return [_from_row(r) for r in conn.execute(query)]
