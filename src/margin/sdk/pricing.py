"""REST resources of prices and currencies: the price catalog and tenant overrides, the
organization's exchange rates, and its settings (reporting currency, seller details)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal, TypeVar

from margin.sdk._operations import Resource, Timestamp, clean, iso, operation

__all__ = ["ExchangeRates", "Organization", "Prices"]

_R = TypeVar("_R")
_B = TypeVar("_B")
Day = dt.date | str

_PRICE_LIST = operation("GET", "/v1/prices")
_PRICE_CREATE = operation("POST", "/v1/prices")
_PRICE_COVERAGE = operation("GET", "/v1/prices/coverage")
_PRICE_QUOTE_QUERY = operation("GET", "/v1/prices/quote")
_PRICE_QUOTE = operation("POST", "/v1/prices/quote")
_PRICE_CATALOG = operation("GET", "/v1/prices/catalog")
_PRICE_GET = operation("GET", "/v1/prices/{override_id}")
_PRICE_DELETE = operation("DELETE", "/v1/prices/{override_id}")
_ORG_GET = operation("GET", "/v1/organization")
_ORG_PATCH = operation("PATCH", "/v1/organization")
_ATTRIBUTION_GET = operation("GET", "/v1/organization/attribution")
_ATTRIBUTION_PATCH = operation("PATCH", "/v1/organization/attribution")
_RATE_LIST = operation("GET", "/v1/exchange-rates")
_RATE_SET_MANY = operation("POST", "/v1/exchange-rates")
_RATE_IMPORT = operation("POST", "/v1/exchange-rates/import")
_RATE_CONVERT = operation("GET", "/v1/exchange-rates/convert")
_RATE_GET = operation("GET", "/v1/exchange-rates/{base}/{quote}/{date}")
_RATE_PUT = operation("PUT", "/v1/exchange-rates/{base}/{quote}/{date}")
_RATE_DELETE = operation("DELETE", "/v1/exchange-rates/{base}/{quote}/{date}")


def _decimal(value: Decimal | str | int, name: str) -> str:
    if isinstance(value, float | bool):  # a binary float cannot carry an exact amount
        raise TypeError(f"{name} must be a Decimal, a decimal string or an int")
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _day(value: Day | None) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else value


class Prices(Resource[_R, _B]):
    """``/v1/prices``: the catalog's prices, and the organization's overrides of them."""

    def list(
        self, *, provider: str | None = None, model: str | None = None, limit: int | None = None
    ) -> _R:
        """The organization's price overrides (``{"data": [...]}``)."""
        params = {"provider": provider, "model": model, "limit": limit}
        return self._json(_PRICE_LIST.call(params=params))

    def create(
        self,
        provider: str,
        model: str,
        prices: Mapping[str, Decimal | str],
        *,
        currency: str | None = None,
        effective_from: Timestamp = None,
        effective_to: Timestamp = None,
        note: str | None = None,
    ) -> _R:
        """Set an override: ``prices`` maps a usage kind (``input_tokens``…) to a decimal
        price per million; ``provider`` may be ``"*"``, ``model`` a glob."""
        body = clean(
            {
                "provider": provider,
                "model": model,
                "prices": {k: _decimal(v, f"prices.{k}") for k, v in prices.items()},
                "currency": currency,
                "effective_from": iso(effective_from),
                "effective_to": iso(effective_to),
                "note": note,
            }
        )
        return self._json(_PRICE_CREATE.call(json=body))

    def get(self, id: str) -> _R:
        """One override by id."""
        return self._json(_PRICE_GET.call({"override_id": id}))

    def delete(self, id: str) -> _R:
        """Delete an override (costs priced by it keep their amounts until re-priced)."""
        return self._json(_PRICE_DELETE.call({"override_id": id}))

    def coverage(self, model: str, *, provider: str | None = None) -> _R:
        """The catalog models an override of ``model`` (a name or glob) would price."""
        return self._json(_PRICE_COVERAGE.call(params={"model": model, "provider": provider}))

    def catalog(self, model: str, *, provider: str | None = None, at: Timestamp = None) -> _R:
        """The catalog's price of a model at a time (default now)."""
        params = {"model": model, "provider": provider, "at": iso(at)}
        return self._json(_PRICE_CATALOG.call(params=params))

    def quote(
        self,
        model: str,
        usage: Mapping[str, Any],
        *,
        provider: str | None = None,
        at: Timestamp = None,
        price_context: Mapping[str, str] | None = None,
    ) -> _R:
        """Price a usage block (``{"input_tokens": 1000, …}``) without storing anything."""
        body = clean(
            {
                "model": model,
                "usage": dict(usage),
                "provider": provider,
                "at": iso(at),
                "price_context": None if price_context is None else dict(price_context),
            }
        )
        return self._json(_PRICE_QUOTE.call(json=body))

    def quote_query(
        self,
        model: str,
        usage: Mapping[str, int],
        *,
        provider: str | None = None,
        at: Timestamp = None,
        processing: str | None = None,
    ) -> _R:
        """``quote`` through the query-string form (``GET /v1/prices/quote``)."""
        params: dict[str, Any] = dict(usage)
        params.update(model=model, provider=provider, at=iso(at), processing=processing)
        return self._json(_PRICE_QUOTE_QUERY.call(params=params))


class Organization(Resource[_R, _B]):
    """``/v1/organization``: the organization's name, reporting currency and seller."""

    def get(self) -> _R:
        """The organization's settings."""
        return self._json(_ORG_GET.call())

    def update(self, **fields: Any) -> _R:
        """Change settings: ``display_name``, ``reporting_currency``, ``seller`` (a mapping
        of ``legal_name``, ``address`` lines, ``email``, ``tax_id``; ``None`` clears it)."""
        return self._json(_ORG_PATCH.call(json=fields))

    def attribution(self) -> _R:
        """Which span attributes name a trace's customer and agent (docs/attribution.md)."""
        return self._json(_ATTRIBUTION_GET.call())

    def update_attribution(self, **fields: Any) -> _R:
        """Change it: ``customer_keys``, ``agent_keys`` (attribute names, best first)."""
        return self._json(_ATTRIBUTION_PATCH.call(json=fields))


class ExchangeRates(Resource[_R, _B]):
    """``/v1/exchange-rates``: one unit of ``base`` buys ``rate`` units of ``quote`` on a
    date; reports and invoices convert with them."""

    def list(
        self,
        *,
        base: str | None = None,
        quote: str | None = None,
        currency: str | None = None,
        from_: Day | None = None,
        to: Day | None = None,
        source: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> _R:
        """One page of rates, newest date first (``to`` inclusive)."""
        params = {
            "base": base,
            "quote": quote,
            "currency": currency,
            "from": _day(from_),
            "to": _day(to),
            "source": source,
            "limit": limit,
            "cursor": cursor,
        }
        return self._json(_RATE_LIST.call(params=params))

    def set_many(self, rates: Iterable[Mapping[str, Any]]) -> _R:
        """Set many rates at once, all or none: items of ``date``, ``base``, ``quote``,
        ``rate`` (decimal) and optional ``source``."""
        items = []
        for n, item in enumerate(rates):
            out = dict(item)
            out["rate"] = _decimal(out["rate"], f"rates[{n}].rate")
            out["date"] = _day(out["date"])
            items.append(out)
        return self._json(_RATE_SET_MANY.call(json={"rates": items}))

    def import_file(self, data: bytes, *, format: Literal["csv", "ecb"] | None = None) -> _R:
        """Import a rate file: CSV (``date,base,quote,rate``) or the ECB's reference XML."""
        media = "application/xml" if format == "ecb" else "text/csv"
        call = _RATE_IMPORT.call(params={"format": format}, content=data, content_type=media)
        return self._json(call)

    def convert(
        self,
        amount: Decimal | str,
        currency: str,
        *,
        to: str | None = None,
        at: Timestamp = None,
    ) -> _R:
        """Convert ``amount`` of ``currency`` (default: into the reporting currency)."""
        params = {
            "amount": _decimal(amount, "amount"),
            "currency": currency,
            "to": to,
            "at": iso(at),
        }
        return self._json(_RATE_CONVERT.call(params=params))

    def get(self, base: str, quote: str, date: Day) -> _R:
        """The rate of a pair on a date."""
        return self._json(_RATE_GET.call(_pair(base, quote, date)))

    def set(
        self, base: str, quote: str, date: Day, rate: Decimal | str, *, source: str | None = None
    ) -> _R:
        """Set the rate of a pair on a date (PUT)."""
        body = clean({"rate": _decimal(rate, "rate"), "source": source})
        return self._json(_RATE_PUT.call(_pair(base, quote, date), json=body))

    def delete(self, base: str, quote: str, date: Day) -> _R:
        """Delete the rate of a pair on a date."""
        return self._json(_RATE_DELETE.call(_pair(base, quote, date)))


def _pair(base: str, quote: str, date: Day) -> dict[str, str]:
    return {"base": base, "quote": quote, "date": _day(date) or ""}
