"""Numbers in request bodies are read exactly on every route (``margin.server.exact_json``):
an amount sent as a JSON number is stored to the digit, a number that a float would round
is refused naming its field where the field is not an amount, NaN and Infinity are refused
by field, and what was accepted before (floats' shortest and 17-digit forms, integers,
decimal strings) still is, stored the same on both stores. Bodies are sent as raw JSON
text (an encoder would write floats) and read back through the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from margin._payload import parse_json
from margin.server import exact_json
from margin_testing import Api, on_event_loop

RAW = {"content-type": "application/json"}
PAID = "/compat/paid/api/v2"
#: Amounts no float holds (18 and 34 digits, a float's 17-digit form that is not its
#: shortest, the smallest amount stored) and one it does.
AMOUNTS = [
    "123456789.123456789",
    "0.1000000000000000055511151231257827",
    "0.050000000000000003",
    "0.000000001",
    "2.5",
]
#: Numbers a float would round or make 0 (the last past a float's range).
ROUNDED = ["0.1000000000000000055511151231257827", "123456789.123456789", "1e-400", "1e400"]


def send(api: Api, method: str, path: str, body: str, scope: str = "admin") -> Any:
    return api.request(method, path, content=body.encode(), headers=RAW, scope=scope)


def created(response: Any) -> Any:
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


def refused(response: Any, field: str) -> None:
    """A 422 problem naming ``field``, as the detail's first words."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field, response.text
    assert response.json()["detail"].startswith(f"{field}: "), response.text


@pytest.mark.parametrize("amount", AMOUNTS)
def test_plan_amounts_sent_as_numbers_are_stored_to_the_digit(api: Api, amount: str) -> None:
    meter = '{"key": "tok", "event_type": "llm", "value_property": "$.t", "aggregation": "sum"}'
    created(send(api, "POST", "/v1/meters", meter))
    plan = (
        '{"key": "p", "currency": "USD",'
        f' "outcomes": [{{"event_name": "won", "price": {amount}}}],'
        f' "fees": [{{"key": "base", "amount": {amount}}}],'
        f' "usage": [{{"key": "u", "meter": "tok", "model": "per_unit", "unit_price": {amount}}},'
        ' {"key": "g", "meter": "tok", "model": "graduated",'
        f' "tiers": [{{"up_to": null, "unit_price": {amount}, "flat_fee": {amount}}}]}}]}}'
    )
    created(send(api, "POST", "/v1/plans", plan))
    back = api.get("/v1/plans/p").json()
    assert back["outcomes"][0]["price"] == amount
    assert back["fees"][0]["amount"] == amount
    assert back["usage"][0]["unit_price"] == amount
    assert back["usage"][1]["tiers"][0]["unit_price"] == amount
    assert back["usage"][1]["tiers"][0]["flat_fee"] == amount


@pytest.mark.parametrize("amount", AMOUNTS)
def test_unit_costs_and_price_overrides_sent_as_numbers_are_exact(api: Api, amount: str) -> None:
    meter = (
        '{"key": "calls", "event_type": "call", "aggregation": "count", "kind": "cost",'
        f' "currency": "USD", "unit_cost": {amount}}}'
    )
    created(send(api, "POST", "/v1/meters", meter))
    assert api.get("/v1/meters/calls").json()["unit_cost"] == amount
    override = f'{{"provider": "openai", "model": "gpt-4o", "prices": {{"input": {amount}}}}}'
    made = created(send(api, "POST", "/v1/prices", override))
    assert api.get(f"/v1/prices/{made['id']}").json()["prices"] == {"input": amount}


def test_compat_amounts_sent_as_numbers_are_exact(api: Api) -> None:
    created(api.post(f"{PAID}/customers/", json={"name": "Acme", "externalId": "acme"}))
    grant = '{"creditCurrencyKey": "meetings", "amount": 0.050000000000000003}'
    path = f"{PAID}/customers/external/acme/credits/grants"
    response = send(api, "POST", path, grant)
    # Paid's credits carry 6 decimals: the 18th is refused, not rounded away.
    assert (response.status_code, response.json()["field"]) == (422, "amount"), response.text
    grant = '{"creditCurrencyKey": "meetings", "amount": 123456789.123456}'
    assert created(send(api, "POST", path, grant))["grant"]["amountDecimal"] == "123456789.123456"
    metric = (
        '{"type": "metered", "name": "calls", "unitCost": 123456789.123456789,'
        ' "currency": "USD", "productId": "p", "aggregation": "COUNT", "eventType": "call"}'
    )
    made = created(send(api, "POST", "/compat/paygentic/v0/costs", metric))
    assert made["unitCost"] == "123456789.123456789"
    assert api.get("/v1/meters").json()["data"][0]["unit_cost"] == "123456789.123456789"
    # Read exactly, 1e-400 is 401 characters: more than a unit cost is stored with.
    tiny = metric.replace("123456789.123456789", "1e-400").replace("calls", "other")
    answer = send(api, "POST", "/compat/paygentic/v0/costs", tiny)
    assert (answer.status_code, answer.json()["field"]) == (422, "unitCost"), answer.text
    assert len(api.get("/v1/meters").json()["data"]) == 1


@pytest.mark.parametrize("number", ROUNDED)
def test_a_number_a_float_would_round_is_refused_by_field(api: Api, number: str) -> None:
    customer = f'{{"external_id": "acme", "metadata": {{"seats": {{"n": [{number}]}}}}}}'
    refused(send(api, "POST", "/v1/customers", customer), "metadata.seats.n.0")
    quote = f'{{"provider": "openai", "model": "gpt-4o", "usage": {{"input_tokens": {number}}}}}'
    refused(send(api, "POST", "/v1/prices/quote", quote, "read"), "usage.input_tokens")
    grant = f'{{"currency": "meetings", "amount": "1", "priority": {number}}}'
    created(api.post("/v1/customers", json={"external_id": "acme"}))
    cid = api.get("/v1/customers/external/acme").json()["id"]
    refused(send(api, "POST", f"/v1/customers/{cid}/credits/grants", grant), "priority")
    product = f'{{"name": "Bot", "externalId": "bot", "metadata": {{"x": {number}}}}}'
    refused(send(api, "POST", f"{PAID}/products/", product), "metadata.x")
    event = (
        '{"type": "call", "source": "s", "externalSubject": "acme",'
        f' "data": {{"seconds": {number}}}}}'
    )
    answer = send(api, "POST", "/compat/paygentic/v0/events", event, "ingest")
    assert (answer.status_code, answer.json()["field"]) == (422, "data.seconds"), answer.text
    usage = (
        '{"agentId": "a", "customerId": "c",'
        f' "rawUsage": {{"provider": "openai", "model": "whisper-1", "audioDuration": {number}}}}}'
    )
    headers = {**RAW, "paygent-api-key": api.tenant.keys["ingest"]}
    answer = api.client.post("/api/v2/usage", content=usage.encode(), headers=headers)
    assert (answer.status_code, answer.json()["field"]) == (422, "rawUsage.audioDuration")
    assert api.get("/v1/customers").json()["data"][0]["metadata"] == {}
    assert api.get(f"/v1/customers/{cid}/credits/grants").json()["data"] == []
    assert api.get("/v1/costs", scope="read").json()["data"] == []


def test_an_amount_no_store_holds_is_refused_not_stored_as_zero(api: Api) -> None:
    plan = '{"key": "p", "currency": "USD", "outcomes": [{"event_name": "e", "price": 1e-400}]}'
    refused(send(api, "POST", "/v1/plans", plan), "outcomes.0.price")
    meter = (
        '{"key": "m", "event_type": "x", "aggregation": "count", "kind": "cost",'
        ' "currency": "USD", "unit_cost": 1e-400}'
    )
    refused(send(api, "POST", "/v1/meters", meter), "unit_cost")
    override = '{"provider": "openai", "model": "gpt-4o", "prices": {"input": 1e400}}'
    refused(send(api, "POST", "/v1/prices", override), "prices.input")
    assert api.get("/v1/plans").json()["data"] == []
    assert api.get("/v1/meters").json()["data"] == []
    assert api.get("/v1/prices").json()["data"] == []


def test_nan_and_infinity_are_refused_by_field(api: Api) -> None:
    for literal in ("NaN", "-Infinity"):
        customer = f'{{"external_id": "acme", "metadata": {{"x": {literal}}}}}'
        refused(send(api, "POST", "/v1/customers", customer), "metadata.x")
        plan = f'{{"key": "p", "currency": "USD", "fees": [{{"key": "f", "amount": {literal}}}]}}'
        refused(send(api, "POST", "/v1/plans", plan), "fees.0.amount")
        # An ingest body stays refused whole: no item could store the number.
        signal = f'{{"event_name": "won", "customer": "acme", "data": {{"x": {literal}}}}}'
        answer = send(api, "POST", "/v1/signals", signal, "ingest")
        assert (answer.status_code, answer.json()["field"]) == (400, "body")
    assert api.get("/v1/customers").json()["data"] == []


def test_free_form_numbers_are_stored_alike_on_both_stores(api: Api) -> None:
    # A float's 17-digit form is the float; a negative zero is 0 (PostgreSQL has no -0).
    metadata = '{"a": 0.050000000000000003, "b": 2.5, "c": 1e2, "d": -0.0, "e": -0, "f": 7}'
    made = created(
        send(api, "POST", "/v1/customers", f'{{"external_id": "x", "metadata": {metadata}}}')
    )
    expected = {"a": 0.05, "b": 2.5, "c": 100.0, "d": 0.0, "e": 0, "f": 7}
    assert made["metadata"] == expected
    back = api.get(f"/v1/customers/{made['id']}").json()["metadata"]
    assert back == expected
    assert [str(back[k]) for k in "abcdef"] == ["0.05", "2.5", "100.0", "0.0", "0", "7"]


def test_every_route_reads_its_body_exactly(api: Api) -> None:
    from margin.server.exact_json import ExactJsonRoute  # here: the others run without it

    routes = list(iter_route_contexts(api.client.app.routes))
    api_routes = [c.original_route for c in routes if isinstance(c.original_route, APIRoute)]
    assert len(api_routes) > 150
    plain = [r.path for r in api_routes if not isinstance(r, ExactJsonRoute)]
    assert plain == []


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b'"x"', 422, 'body must be a JSON object (one item, or {"items": [...]})'),
        (b"null", 422, 'body must be a JSON object (one item, or {"items": [...]})'),
        (b"{", 400, "body is not valid JSON: Expecting property name enclosed in double quotes"),
        (b"1e-400", 400, "the number 1e-400 has more digits than a JSON number carries"),
    ],
)
def test_an_ingest_body_that_is_no_item_is_answered_as_ever(
    api: Api, body: bytes, status: int, detail: str
) -> None:
    answer = api.post("/v1/signals", content=body, headers=RAW, scope="ingest")
    assert (answer.status_code, answer.json()["field"]) == (status, "body"), answer.text
    assert answer.json()["detail"].startswith(detail)


def test_a_large_body_is_read_off_the_event_loop_and_exactly(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's body is CPU work to parse (10,000 signals: about 20 ms) that must not hold
    up the server's other requests: past 16 KiB it is read on a worker thread, by the same
    exact parser, with the same answers."""
    on_loop: list[bool] = []

    def observed(raw: bytes, *, decimals: bool = False) -> Any:
        on_loop.append(on_event_loop())
        return parse_json(raw, decimals=decimals)

    monkeypatch.setattr(exact_json, "parse_json", observed)
    items = ",".join(
        f'{{"event_name": "e", "customer": "c-{i}", "data": {{"n": {i}, "x": 0.5}}}}'
        for i in range(400)
    )
    body = f'{{"items": [{items}]}}'
    assert len(body) > 16 * 1024
    answer = created(send(api, "POST", "/v1/signals", body, scope="ingest"))
    assert answer["ingested"] == 400
    # Refused the same way off the loop: a number no float holds, named by its field.
    bad = body.replace('"x": 0.5', '"x": 0.1000000000000000055511151231257827', 1)
    refused = send(api, "POST", "/v1/signals", bad, scope="ingest")
    assert refused.status_code == 400
    assert refused.json()["field"] == "body"
    assert created(send(api, "POST", "/v1/signals", '{"event_name": "e", "customer": "c"}',
                        scope="ingest"))["status"] == "ingested"  # fmt: skip
    assert on_loop == [False, False, True]
