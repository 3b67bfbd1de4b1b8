"""``Margin`` and ``AsyncMargin``: the REST clients, with retries that keep idempotency keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import IO, Any, Generic, TypeVar

import httpx
import orjson

from margin._version import __version__
from margin.sdk._http import (
    RETRYABLE_STATUS,
    Call,
    backoff_delay,
    dumps,
    resolve_api_key,
    resolve_base_url,
    retry_after_seconds,
)
from margin.sdk._operations import Transport
from margin.sdk.billing import Invoices, Meters, Orders, Plans
from margin.sdk.control import Alerts, Credits, Entitlements, Features, Webhooks
from margin.sdk.errors import APIConnectionError, error_for_status
from margin.sdk.insights import Exports, Reports, System, Traces
from margin.sdk.keys import Keys
from margin.sdk.parties import Agents, Customers
from margin.sdk.pricing import ExchangeRates, Organization, Prices
from margin.sdk.resources import Costs, Events, Signals

__all__ = ["AsyncMargin", "Margin"]

_Result = dict[str, Any]
_R = TypeVar("_R")
_B = TypeVar("_B")


class _Settings:
    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        retry_backoff: float,
    ) -> None:
        self.api_key = resolve_api_key(api_key)
        self.base_url = resolve_base_url(base_url)
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.retry_backoff = retry_backoff
        self.headers = {"User-Agent": f"margin-python/{__version__}", "Accept": "application/json"}
        if self.api_key:
            self.headers["Authorization"] = f"Bearer {self.api_key}"

    def request(self, call: Call) -> httpx.Request:
        # Encoded once: every retry sends the very same bytes (and idempotency keys).
        content = call.content if call.json is None else dumps(call.json)
        headers = dict(self.headers)
        if call.json is not None:
            headers["Content-Type"] = "application/json"
        elif call.content_type is not None:
            headers["Content-Type"] = call.content_type
        return httpx.Request(
            call.method,
            self.base_url + call.path,
            params=call.params,
            content=content,
            headers=headers,
        )

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            hinted = retry_after_seconds(response.headers.get("Retry-After"))
            if hinted is not None:
                return hinted
        return backoff_delay(attempt, self.retry_backoff)


def _result(response: httpx.Response) -> _Result:
    status = response.status_code
    if 300 <= status < 400:
        # Not followed (the key would go along): a write "answered" by a redirect did not
        # happen, and must not read as done.
        moved = response.headers.get("Location") or "no location given"
        raise error_for_status(status, {
            "status": status, "title": "Redirected",
            "detail": f"the server answered {status}, redirecting to {moved}: use that base URL",
        })  # fmt: skip
    try:
        body: Any = orjson.loads(response.content) if response.content else {}
    except orjson.JSONDecodeError:
        # A proxy's HTML error page, say: keep its text as the problem detail.
        body = {"status": status, "detail": response.text[:500]}
    if status >= 400:
        raise error_for_status(status, body if isinstance(body, dict) else None)
    return body if isinstance(body, dict) else {"data": body}


def _retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRYABLE_STATUS


def _failed(response: httpx.Response) -> None:
    """Raise the error of a non-JSON call's failed response (read in full: it is small)."""
    if response.status_code >= 300:
        _result(response)


class _Resources(Generic[_R, _B]):
    """Every resource of the API, bound to one transport: the same code serves both
    clients, ``_R``/``_B`` being a JSON dict and bytes, or awaitables of them."""

    def __init__(self, transport: Transport[_R, _B]) -> None:
        self.customers = Customers(transport)
        self.agents = Agents(transport)
        self.signals = Signals(transport)
        self.costs = Costs(transport)
        self.events = Events(transport)
        self.traces = Traces(transport)
        self.reports = Reports(transport)
        self.exports = Exports(transport)
        self.system = System(transport)
        self.meters = Meters(transport)
        self.plans = Plans(transport)
        self.orders = Orders(transport)
        self.invoices = Invoices(transport)
        self.prices = Prices(transport)
        self.exchange_rates = ExchangeRates(transport)
        self.organization = Organization(transport)
        self.keys = Keys(transport)
        self.features = Features(transport)
        self.entitlements = Entitlements(transport)
        self.credits = Credits(transport)
        self.alerts = Alerts(transport)
        self.webhooks = Webhooks(transport)


class Margin(_Resources[_Result, bytes]):
    """Synchronous REST client. ``api_key``/``base_url`` default to ``MARGIN_API_KEY`` /
    ``MARGIN_BASE_URL`` (else ``http://127.0.0.1:8400``). Responses are plain dicts; errors
    raise ``APIError`` subclasses carrying the RFC 9457 problem details."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._settings = _Settings(api_key, base_url, timeout, max_retries, retry_backoff)
        self._http = http_client or httpx.Client(timeout=timeout)
        super().__init__(Transport(self._send, self._download))

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    def _respond(self, call: Call, stream: bool = False) -> httpx.Response:
        """The response of the first attempt that is not retried (streamed: open)."""
        settings = self._settings
        request = settings.request(call)
        for attempt in range(settings.max_retries + 1):
            last = attempt == settings.max_retries
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if last:
                    raise APIConnectionError(f"cannot reach {settings.base_url}: {exc}") from exc
                time.sleep(settings.delay(attempt, None))
                continue
            if _retryable(response) and not last:
                response.close()
                time.sleep(settings.delay(attempt, response))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, call: Call) -> _Result:
        return _result(self._respond(call))

    def _download(self, call: Call, sink: IO[bytes] | None) -> bytes:
        response = self._respond(call, stream=True)
        try:
            if response.status_code >= 300 or sink is None:
                response.read()
                _failed(response)
                return response.content
            try:
                for chunk in response.iter_bytes():
                    sink.write(chunk)
            except httpx.TransportError as exc:
                raise APIConnectionError(f"download from {self.base_url} broke: {exc}") from exc
            return b""
        finally:
            response.close()

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    def __enter__(self) -> Margin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMargin(_Resources[Awaitable[_Result], Awaitable[bytes]]):
    """Asynchronous REST client; the same resources as ``Margin``, each method awaitable."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = _Settings(api_key, base_url, timeout, max_retries, retry_backoff)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        super().__init__(Transport(self._send, self._download))

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    async def _respond(self, call: Call, stream: bool = False) -> httpx.Response:
        settings = self._settings
        request = settings.request(call)
        for attempt in range(settings.max_retries + 1):
            last = attempt == settings.max_retries
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if last:
                    raise APIConnectionError(f"cannot reach {settings.base_url}: {exc}") from exc
                await asyncio.sleep(settings.delay(attempt, None))
                continue
            if _retryable(response) and not last:
                await response.aclose()
                await asyncio.sleep(settings.delay(attempt, response))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, call: Call) -> _Result:
        return _result(await self._respond(call))

    async def _download(self, call: Call, sink: IO[bytes] | None) -> bytes:
        response = await self._respond(call, stream=True)
        try:
            if response.status_code >= 300 or sink is None:
                await response.aread()
                _failed(response)
                return response.content
            try:
                async for chunk in response.aiter_bytes():
                    sink.write(chunk)
            except httpx.TransportError as exc:
                raise APIConnectionError(f"download from {self.base_url} broke: {exc}") from exc
            return b""
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMargin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
