"""The pricer: usage in, money out, with the reason it is that amount.

Precedence (a caller-provided cost wins before this is reached, in ingest): a tenant override,
else the catalog, else ``unpriced`` with a reason — never a silent zero. Resolutions are cached
per (org, provider, model, UTC day, context): catalog prices change by date (or, for off-peak
pricing, by minute of the day), so the per-record path is a dict hit plus a few Decimal ops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from margin._money import MoneyError, to_nanos
from margin._time import DAY_US
from margin.pricing.calculator import PriceSheet, UnpricedError
from margin.pricing.catalog import catalog_sheet
from margin.pricing.overrides import PriceOverride, load_overrides
from margin.usage import USAGE_KEYS, check_counts, normalize_usage

if TYPE_CHECKING:
    from margin.store.db import Database

__all__ = ["PriceBatch", "PriceResult", "Priced", "Pricer"]

_MINUTE_US = 60_000_000
_KEYS = frozenset(USAGE_KEYS)
_MAX_CACHE = 100_000
#: The largest storable amount: a signed 64-bit count of nano-units (as ``to_nanos``).
_MAX_NANOS = 2**63 - 1


class PriceResult(NamedTuple):
    """The outcome of pricing one usage record."""

    amount: Decimal | None
    currency: str
    priced_by: Literal["catalog", "override", "unpriced"]
    price_ref: str | None
    unpriced_reason: str | None
    #: The canonical usage that was priced (its non-zero counts).
    usage: dict[str, Any]


def _unpriced(reason: str, usage: dict[str, Any]) -> PriceResult:
    return PriceResult(None, "USD", "unpriced", None, reason, usage)


def _counts(usage: Mapping[str, Any], provider: str | None) -> dict[str, Any] | PriceResult:
    """The non-zero canonical counts of a usage block (of ``provider``'s shape, when it is a
    provider's own block), or ``unpriced`` naming the problem."""
    try:
        if usage.keys() <= _KEYS:
            counts = {k: v for k, v in usage.items() if v}
            for value in counts.values():
                if value.__class__ is not int or value < 0:
                    counts = check_counts(usage)  # raises, naming the key
        else:
            counts = normalize_usage(usage, provider).to_dict()
    except ValueError as exc:
        return _unpriced(str(exc), {})
    return counts


def _apply(sheet: PriceSheet, counts: dict[str, Any]) -> PriceResult:
    if sheet.reason is not None:
        return _unpriced(sheet.reason, counts)
    try:
        amount = sheet.evaluate(counts)
    except UnpricedError as exc:
        return _unpriced(str(exc), counts)
    return PriceResult(amount, sheet.currency, sheet.priced_by, sheet.ref, None, counts)


#: How long an organization's overrides are trusted before they are read again.
OVERRIDE_TTL_SECONDS = 5.0


class Pricer:
    """Prices usage for an organization at a point in time (thread-safe; caches resolutions)."""

    def __init__(self, db: Database | None = None) -> None:
        self.db = db
        self._sheets: dict[tuple[Any, ...], PriceSheet] = {}
        self._overrides: dict[str, list[PriceOverride]] = {}
        self._loaded_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def price(
        self,
        org_id: str,
        provider: str | None,
        model: str | None,
        usage: Mapping[str, Any],
        at_us: int,
        context: Mapping[str, str] | None = None,
    ) -> PriceResult:
        """Price one record. ``usage`` is an API usage block (canonical keys, or a provider's
        native usage shape); a bad block yields ``unpriced`` with the reason, never an error."""
        counts = _counts(usage, provider)
        if isinstance(counts, PriceResult):
            return counts
        if not model:
            return _unpriced("model is required", counts)
        if not counts:
            return _unpriced("missing usage", counts)
        if time.monotonic() - self._loaded_at.get(org_id, 0.0) >= OVERRIDE_TTL_SECONDS:
            self.overrides(org_id)  # drops this org's cached sheets if its overrides changed
        return _apply(self._resolve(org_id, provider, model, at_us, context), counts)

    def batch(self, org_id: str) -> PriceBatch:
        """A pricer for the records of one ingest request of ``org_id`` (see ``PriceBatch``)."""
        if time.monotonic() - self._loaded_at.get(org_id, 0.0) >= OVERRIDE_TTL_SECONDS:
            self.overrides(org_id)
        return PriceBatch(self, org_id)

    def _resolve(
        self,
        org_id: str,
        provider: str | None,
        model: str,
        at_us: int,
        context: Mapping[str, str] | None,
    ) -> PriceSheet:
        ctx = tuple(sorted(context.items())) if context else ()
        key = (org_id, provider, model, at_us // DAY_US, ctx)
        sheet = self._sheets.get(key)
        if sheet is None or sheet.volatility:
            sheet = self._sheet_for(key, org_id, provider, model, at_us, context, sheet)
        return sheet

    def invalidate(self, org_id: str | None = None) -> None:
        """Forget cached resolutions (after a tenant price override changes)."""
        with self._lock:
            if org_id is None:
                self._sheets.clear()
                self._overrides.clear()
            else:
                self._overrides.pop(org_id, None)
                for key in [k for k in self._sheets if k[0] == org_id]:
                    self._sheets.pop(key, None)

    def overrides(self, org_id: str) -> list[PriceOverride]:
        """The organization's overrides, cached; re-read every few seconds so that a change
        made through another server process (several workers share one store) is seen."""
        now = time.monotonic()
        cached = self._overrides.get(org_id)
        if cached is not None and now - self._loaded_at.get(org_id, 0.0) < OVERRIDE_TTL_SECONDS:
            return cached
        if self.db is None:
            fresh: list[PriceOverride] = []
        else:
            with self.db.read() as conn:
                fresh = load_overrides(conn, org_id)
        if cached is not None and [o.id for o in cached] != [o.id for o in fresh]:
            self.invalidate(org_id)
        self._overrides[org_id] = fresh
        self._loaded_at[org_id] = now
        return fresh

    def _sheet_for(
        self,
        key: tuple[Any, ...],
        org_id: str,
        provider: str | None,
        model: str,
        at_us: int,
        context: Mapping[str, str] | None,
        cached: PriceSheet | None,
    ) -> PriceSheet:
        if cached is not None and cached.volatility == 1:
            # Off-peak catalog pricing: resolve per minute of the day.
            minute_key = (*key[:3], ("minute", at_us // _MINUTE_US), key[4])
            sheet = self._sheets.get(minute_key)
            if sheet is None:
                sheet = catalog_sheet(provider, model, at_us, context)
                self._store(minute_key, sheet)
            return sheet
        day_start = at_us - at_us % DAY_US
        day_end = day_start + DAY_US
        relevant = [o for o in self.overrides(org_id) if o.covers(provider, model)]
        matching = [o for o in relevant if o.active(at_us)]
        # An override starting or ending inside this day makes the day's answer time-dependent.
        boundary = any(
            day_start < edge < day_end
            for o in relevant
            for edge in (o.effective_from, o.effective_to)
            if edge is not None
        )
        if matching:
            sheet = max(matching, key=lambda o: o.specificity(model)).sheet()
        else:
            sheet = catalog_sheet(provider, model, at_us, context)
        if boundary:
            sheet = sheet.with_volatility(2)
        if cached is None:
            self._store(key, sheet)
        return sheet

    def _store(self, key: tuple[Any, ...], sheet: PriceSheet) -> None:
        with self._lock:
            if len(self._sheets) >= _MAX_CACHE:
                self._sheets.clear()
            self._sheets[key] = sheet


class Priced(NamedTuple):
    """One record priced by ``PriceBatch.nanos``: ``PriceResult``'s answer, with the amount
    as the integer nano-units it is stored as."""

    nanos: int | None
    currency: str
    priced_by: str
    price_ref: str | None
    unpriced_reason: str | None
    usage: dict[str, Any]


class PriceBatch:
    """Prices the records of one ingest request of one organization, as ``Pricer.price``
    does (without a price context). Its overrides are looked at once, when the batch is made,
    and each (provider, model, UTC day) resolves its sheet once; a sheet that varies within the
    day (off-peak prices, an override starting that day) is resolved per record, as by
    ``Pricer.price``. A batch lives for one request: nothing is shared between tenants."""

    def __init__(self, pricer: Pricer, org_id: str) -> None:
        self._pricer = pricer
        self._org_id = org_id
        self._sheets: dict[tuple[str | None, str, int], PriceSheet] = {}

    def nanos(
        self, provider: str | None, model: str | None, usage: Mapping[str, Any], at_us: int
    ) -> Priced:
        """``to_nanos(Pricer.price(…).amount)``, with the same outcome when it is unpriced
        (or its amount cannot be stored: ``unpriced``, reason ``amount: …``)."""
        counts = _counts(usage, provider)
        if isinstance(counts, PriceResult):
            return Priced(None, "USD", "unpriced", None, counts.unpriced_reason, {})
        if not model:
            return Priced(None, "USD", "unpriced", None, "model is required", counts)
        if not counts:
            return Priced(None, "USD", "unpriced", None, "missing usage", counts)
        key = (provider, model, at_us // DAY_US)
        sheet = self._sheets.get(key)
        if sheet is None:
            sheet = self._pricer._resolve(self._org_id, provider, model, at_us, None)
            if not sheet.volatility:
                self._sheets[key] = sheet
        if sheet.reason is not None:
            return Priced(None, "USD", "unpriced", None, sheet.reason, counts)
        try:
            nanos = sheet.nanos(counts)
            if nanos is not None and -_MAX_NANOS <= nanos <= _MAX_NANOS:
                return Priced(nanos, sheet.currency, sheet.priced_by, sheet.ref, None, counts)
            amount = sheet.evaluate(counts)
        except UnpricedError as exc:
            return Priced(None, "USD", "unpriced", None, str(exc), counts)
        try:
            nanos = to_nanos(amount)
        except MoneyError as exc:
            return Priced(None, sheet.currency, "unpriced", None, f"amount: {exc}", counts)
        return Priced(nanos, sheet.currency, sheet.priced_by, sheet.ref, None, counts)
