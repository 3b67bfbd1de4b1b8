"""The REST clients over httpx.MockTransport: requests, retries, idempotency keys, errors."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

import margin
from margin import AsyncMargin, Margin

Handler = Any


def _client(handler: Handler, **kw: Any) -> tuple[Margin, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response: httpx.Response = handler(request, len(seen))
        return response

    http = httpx.Client(transport=httpx.MockTransport(record))
    return Margin("mk_1", "http://margin.test/", http_client=http, retry_backoff=0.001, **kw), seen


def _ok(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def _json(request: httpx.Request) -> Any:
    return orjson.loads(request.content)


def test_customer_crud_requests() -> None:
    client, seen = _client(lambda r, n: _ok({"id": "cus_1"}))
    assert client.customers.create("ext-1", name="Ada", metadata={"a": 1}) == {"id": "cus_1"}
    client.customers.get("cus_1")
    client.customers.get_by_external_id("a/b c")
    client.customers.list(limit=10, include_archived=True)
    client.customers.update("cus_1", name="Bea")
    client.customers.archive("cus_1")
    client.agents.create("ag-1", description="d")
    calls = [(r.method, str(r.url)) for r in seen]
    assert calls == [
        ("POST", "http://margin.test/v1/customers"),
        ("GET", "http://margin.test/v1/customers/cus_1"),
        ("GET", "http://margin.test/v1/customers/external/a%2Fb%20c"),
        ("GET", "http://margin.test/v1/customers?limit=10&include_archived=true"),
        ("PATCH", "http://margin.test/v1/customers/cus_1"),
        ("DELETE", "http://margin.test/v1/customers/cus_1"),
        ("POST", "http://margin.test/v1/agents"),
    ]
    assert _json(seen[0]) == {"external_id": "ext-1", "name": "Ada", "metadata": {"a": 1}}
    assert _json(seen[4]) == {"name": "Bea"}
    assert _json(seen[6]) == {"external_id": "ag-1", "description": "d"}
    assert seen[0].headers["Authorization"] == "Bearer mk_1"


def test_ingest_items_carry_keys_decimal_strings_and_offsets() -> None:
    client, seen = _client(lambda r, n: _ok({"ingested": 1, "duplicates": 0, "failed": []}))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    client.costs.create(customer="c", amount=Decimal("0.000012345"), currency="USD",
                        usage={"input_tokens": 3}, timestamp=when)  # fmt: skip
    client.signals.create_batch([{"event_name": "a", "customer": "c"},
                                 {"event_name": "b", "customer": "c", "idempotency_key": "k2"}])  # fmt: skip
    client.events.create("api_call", customer="c", data={"n": 1})
    cost = _json(seen[0])
    assert cost["amount"] == "0.000012345"
    assert cost["timestamp"] == "2026-01-02T03:04:05+00:00"
    assert len(cost["idempotency_key"]) == 32
    items = _json(seen[1])["items"]
    assert len(items[0]["idempotency_key"]) == 32
    assert items[1]["idempotency_key"] == "k2"
    assert _json(seen[2])["type"] == "api_call"
    with pytest.raises(TypeError):
        client.costs.create(customer="c", amount=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone"):
        client.signals.create("x", customer="c", timestamp=datetime(2026, 1, 1))


def test_retries_reuse_the_same_idempotency_key() -> None:
    def flaky(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            raise httpx.ConnectError("refused")
        if n == 2:
            return httpx.Response(503)
        if n == 3:
            return httpx.Response(429, headers={"Retry-After": "0"})
        return _ok({"ingested": 1}, 201)

    client, seen = _client(flaky)
    assert client.signals.create("won", customer="c") == {"ingested": 1}
    assert len(seen) == 4
    keys = {_json(r)["idempotency_key"] for r in seen}
    assert len(keys) == 1


def test_connection_errors_exhaust_into_api_connection_error() -> None:
    def down(request: httpx.Request, n: int) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client, seen = _client(down, max_retries=2)
    with pytest.raises(margin.APIConnectionError):
        client.customers.get("x")
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, margin.BadRequestError),
        (413, margin.BadRequestError),
        (422, margin.BadRequestError),
        (401, margin.AuthenticationError),
        (403, margin.PermissionDeniedError),
        (404, margin.NotFoundError),
        (409, margin.ConflictError),
        (429, margin.RateLimitError),
        (500, margin.ServerError),
        (503, margin.ServerError),
    ],
)
def test_errors_map_to_types_with_problem_details(
    status: int, error: type[margin.APIError]
) -> None:
    problem = {"type": "about:blank", "title": "Nope", "status": status, "detail": "bad field",
               "errors": [{"field": "external_id"}]}  # fmt: skip
    client, seen = _client(lambda r, n: httpx.Response(status, json=problem), max_retries=1)
    with pytest.raises(error) as raised:
        client.customers.get("x")
    assert raised.value.status == status
    assert raised.value.problem == problem
    assert raised.value.detail == "bad field"
    assert raised.value.errors == [{"field": "external_id"}]
    assert len(seen) == (2 if status in (429, 500, 503) else 1)


def test_non_json_error_body() -> None:
    client, _ = _client(lambda r, n: httpx.Response(502, text="<html>bad gateway</html>"),
                        max_retries=0)  # fmt: skip
    with pytest.raises(margin.ServerError, match="bad gateway"):
        client.reports.summary("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "model")


def test_env_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGIN_API_KEY", "mk_env")
    monkeypatch.setenv("MARGIN_BASE_URL", "http://env.test:1/")
    assert Margin().base_url == "http://env.test:1"
    monkeypatch.delenv("MARGIN_BASE_URL")
    assert Margin().base_url == "http://127.0.0.1:8400"


async def test_async_client_retries_and_maps_errors() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/traces/t1":
            return httpx.Response(404, json={"title": "Not found", "status": 404})
        if len(seen) == 1:
            return httpx.Response(500)
        return _ok({"from": "a", "groups": []})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with AsyncMargin("mk", "http://m.test", http_client=http, retry_backoff=0.001) as client:
        summary = await client.reports.summary(
            "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "agent"
        )
        assert summary == {"from": "a", "groups": []}
        assert seen[1].url.params["group_by"] == "agent"
        with pytest.raises(margin.NotFoundError):
            await client.traces.get("t1")
        await client.costs.create_batch([{"customer": "c", "amount": Decimal("1.50")}])
    assert _json(seen[-1])["items"][0]["amount"] == "1.50"
    assert len(seen) == 4


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_naming_the_new_location_never_a_result(status: int) -> None:
    # An http URL moved to https, say: a signal "answered" by a redirect was not recorded.
    moved = httpx.Response(status, headers={"Location": "https://m.test/v1/signals"}, text="moved")
    client, seen = _client(lambda r, n: moved, max_retries=2)
    with pytest.raises(margin.APIError, match=r"redirecting to https://m\.test/v1/signals"):
        client.signals.create(event_name="meeting_booked", customer="cus_1")
    assert len(seen) == 1
    with pytest.raises(margin.APIError) as raised:
        client.invoices.pdf("inv_1", sink=io.BytesIO())
    assert raised.value.status == status


async def test_the_async_client_refuses_a_redirect_too() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(308)))
    async with AsyncMargin("mk", "http://m.test", http_client=http) as client:
        with pytest.raises(margin.APIError, match="308, redirecting to no location given"):
            await client.signals.create(event_name="meeting_booked", customer="cus_1")
