"""``Margin`` and ``AsyncMargin``: the REST clients, with retries that keep idempotency keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

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
from margin.sdk.errors import APIConnectionError, error_for_status
from margin.sdk.resources import Agents, Costs, Customers, Events, Reports, Signals, Traces

__all__ = ["AsyncMargin", "Margin"]

_Result = dict[str, Any]


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
        content = None if call.json is None else dumps(call.json)
        headers = dict(self.headers)
        if content is not None:
            headers["Content-Type"] = "application/json"
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
    try:
        body: Any = orjson.loads(response.content) if response.content else {}
    except orjson.JSONDecodeError:
        # A proxy's HTML error page, say: keep its text as the problem detail.
        body = {"status": response.status_code, "detail": response.text[:500]}
    if response.status_code >= 400:
        raise error_for_status(response.status_code, body if isinstance(body, dict) else None)
    return body if isinstance(body, dict) else {"data": body}


def _retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRYABLE_STATUS


class Margin:
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
        self.customers: Customers[_Result] = Customers(self._send)
        self.agents: Agents[_Result] = Agents(self._send)
        self.signals: Signals[_Result] = Signals(self._send)
        self.costs: Costs[_Result] = Costs(self._send)
        self.events: Events[_Result] = Events(self._send)
        self.reports: Reports[_Result] = Reports(self._send)
        self.traces: Traces[_Result] = Traces(self._send)

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    def _send(self, call: Call) -> _Result:
        settings = self._settings
        request = settings.request(call)
        for attempt in range(settings.max_retries + 1):
            last = attempt == settings.max_retries
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                if last:
                    raise APIConnectionError(f"cannot reach {settings.base_url}: {exc}") from exc
                time.sleep(settings.delay(attempt, None))
                continue
            if _retryable(response) and not last:
                time.sleep(settings.delay(attempt, response))
                continue
            return _result(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the underlying HTTP connections."""
        self._http.close()

    def __enter__(self) -> Margin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMargin:
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
        self.customers: Customers[Awaitable[_Result]] = Customers(self._send)
        self.agents: Agents[Awaitable[_Result]] = Agents(self._send)
        self.signals: Signals[Awaitable[_Result]] = Signals(self._send)
        self.costs: Costs[Awaitable[_Result]] = Costs(self._send)
        self.events: Events[Awaitable[_Result]] = Events(self._send)
        self.reports: Reports[Awaitable[_Result]] = Reports(self._send)
        self.traces: Traces[Awaitable[_Result]] = Traces(self._send)

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    async def _send(self, call: Call) -> _Result:
        settings = self._settings
        request = settings.request(call)
        for attempt in range(settings.max_retries + 1):
            last = attempt == settings.max_retries
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                if last:
                    raise APIConnectionError(f"cannot reach {settings.base_url}: {exc}") from exc
                await asyncio.sleep(settings.delay(attempt, None))
                continue
            if _retryable(response) and not last:
                await asyncio.sleep(settings.delay(attempt, response))
                continue
            return _result(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMargin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
