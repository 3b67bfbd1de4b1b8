"""Entitlement checks from inside the agent: ``margin.check(customer, feature)`` and the
guard ``margin.trace(..., require="feature")``.

A check asks the server (``GET /v1/customers/external/{customer}/entitlements/{feature}``)
and caches the answer for ``ttl`` seconds (default 2, ``MARGIN_CHECK_TTL``): within that time
a repeated check costs microseconds but does not see usage recorded meanwhile (the answer
says ``cached=True``). A check waits at most ``timeout`` seconds (default 0.5,
``MARGIN_CHECK_TIMEOUT``); when the server cannot be reached or answers with an error, the
``on_error`` policy decides (``MARGIN_CHECK_ON_ERROR``): ``open`` (the default) grants
access, ``closed`` denies it; either way ``source`` says so. Needs only httpx.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

import httpx

from margin.sdk._http import resolve_api_key, resolve_base_url
from margin.sdk.errors import MarginError

__all__ = ["Check", "Checker", "EntitlementExceeded", "check", "configure_checks", "require"]

Source = Literal["server", "cache", "fail_open", "fail_closed"]


@dataclass(frozen=True)
class Check:
    """The answer of a check: the server's fields (decimal strings) and where it came from."""

    customer: str
    feature: str
    has_access: bool
    source: Source
    balance: str | None = None
    usage: str | None = None
    limit: str | None = None
    overage: str | None = None
    resets_at: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: The customer unit the check named (its external id), if any.
    unit: str | None = None

    @property
    def cached(self) -> bool:
        return self.source == "cache"


class EntitlementExceeded(MarginError):
    """Raised by ``require`` (and ``trace(require=...)``) before the work starts, when the
    customer has no access to the feature (e.g. a hard limit is reached)."""

    def __init__(self, answer: Check) -> None:
        super().__init__(
            f"customer {answer.customer!r} has no access to {answer.feature!r} "
            f"(usage {answer.usage}, limit {answer.limit}, balance {answer.balance})"
        )
        self.check = answer


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


class Checker:
    """Checks against one server, with a cache shared by threads."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        ttl: float | None = None,
        timeout: float | None = None,
        on_error: Literal["open", "closed"] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl if ttl is not None else _env_float("MARGIN_CHECK_TTL", 2.0)
        self.timeout = timeout if timeout is not None else _env_float("MARGIN_CHECK_TIMEOUT", 0.5)
        policy = on_error or os.environ.get("MARGIN_CHECK_ON_ERROR", "open")
        self.fail_open = policy != "closed"
        self.clock = clock
        key = resolve_api_key(api_key)
        self._client = httpx.Client(
            base_url=resolve_base_url(base_url),
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=self.timeout,
            transport=transport,
        )
        # (customer, feature, unit) → (expiry, the answer as a cache hit returns it)
        self._cache: dict[tuple[str, str, str | None], tuple[float, Check]] = {}
        self._lock = threading.Lock()

    def check(self, customer: str, feature: str, unit: str | None = None) -> Check:
        """With ``unit`` (the unit's external id): the unit's own entitlement, else the
        customer's."""
        key = (customer, feature, unit)
        hit = self._cache.get(key)
        now = self.clock()
        if hit is not None and hit[0] > now:
            return hit[1]
        answer = self._ask(customer, feature, unit)
        if answer.source == "server" and self.ttl > 0:
            with self._lock:
                self._cache[key] = (now + self.ttl, replace(answer, source="cache"))
        return answer

    def _ask(self, customer: str, feature: str, unit: str | None) -> Check:
        path = f"/v1/customers/external/{quote(customer, safe='')}/entitlements/{quote(feature, safe='')}"
        params = {} if unit is None else {"unit": unit}
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError:
            return self._failed(customer, feature, unit)
        if response.status_code == 404:
            return Check(customer, feature, False, "server", details=_json(response), unit=unit)
        if response.status_code != 200:
            return self._failed(customer, feature, unit)
        body = _json(response)
        return Check(
            customer,
            feature,
            bool(body.get("has_access")),
            "server",
            balance=body.get("balance"),
            usage=body.get("usage"),
            limit=body.get("limit"),
            overage=body.get("overage"),
            resets_at=body.get("resets_at"),
            details=body,
            unit=unit,
        )

    def _failed(self, customer: str, feature: str, unit: str | None = None) -> Check:
        source: Source = "fail_open" if self.fail_open else "fail_closed"
        return Check(customer, feature, self.fail_open, source, unit=unit)

    def require(self, customer: str, feature: str, unit: str | None = None) -> Check:
        answer = self.check(customer, feature, unit)
        if not answer.has_access:
            raise EntitlementExceeded(answer)
        return answer

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        self._client.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


_default: Checker | None = None
_default_lock = threading.Lock()


def configure_checks(**options: Any) -> Checker:
    """Replace the checker ``check`` and ``require`` use (options as ``Checker``)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = Checker(**options)
        return _default


def _checker() -> Checker:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Checker()
    return _default


def check(customer: str, feature: str, unit: str | None = None) -> Check:
    """Whether ``customer`` (your external id), or its ``unit`` (the unit's external id),
    may use ``feature`` now; never raises."""
    return _checker().check(customer, feature, unit)


def require(customer: str, feature: str, unit: str | None = None) -> Check:
    """``check``, raising ``EntitlementExceeded`` when access is denied."""
    return _checker().require(customer, feature, unit)
