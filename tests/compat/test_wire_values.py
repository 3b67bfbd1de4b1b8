"""What the compatibility routes make of the values on their wire: amounts sent as JSON
numbers are kept to the digit, an instant is the same whatever its UTC offset, and a bad
value in one item of a batch fails that item alone. On both stores, over the in-process app."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from margin.store.schema import costs, events, signals
from margin_testing import Api

PAID = "/compat/paid/api/v2"
PAYGENTIC = "/compat/paygentic/v0"
JSON = {"content-type": "application/json"}
CUSTOMER = '{"externalCustomerId": "acme"}'


def _raw(api: Api, path: str, body: str, scope: str = "ingest") -> Any:
    return api.post(path, content=body.encode(), headers=JSON, scope=scope)


def _rows(api: Api, *columns: Any) -> list[tuple[Any, ...]]:
    with api.db.read() as conn:
        return [tuple(r) for r in conn.execute(select(*columns).order_by(*columns))]


def test_paid_cost_amounts_sent_as_json_numbers_are_exact(api: Api) -> None:
    body = (
        '{"costs": ['
        f'{{"type": "cost", "customer": {CUSTOMER}, "amount": 123456789.123456789,'
        ' "currency": "USD"},'
        f'{{"type": "cost", "customer": {CUSTOMER}, "amount": 0.000000001, "currency": "USD"}},'
        f'{{"type": "usage", "customer": {CUSTOMER}, "vendor": "openai", "model": "gpt-4o",'
        ' "usage": {"inputTokens": 1}, "costOverride": {"amount": 987654321.987654321,'
        ' "currency": "USD"}}'
        "]}"
    )
    response = _raw(api, f"{PAID}/costs/bulk", body)
    assert response.status_code == 200, response.text
    assert response.json()["ingested"] == 3
    assert _rows(api, costs.c.amount_nanos) == [
        (1,),
        (123_456_789_123_456_789,),
        (987_654_321_987_654_321,),
    ]


def test_paid_grant_and_paygentic_unit_cost_sent_as_numbers_are_exact(api: Api) -> None:
    api.post(f"{PAID}/customers/", json={"name": "Acme", "externalId": "acme"})
    grant = '{"creditCurrencyKey": "meetings", "amount": 9123456789.123456}'
    response = _raw(api, f"{PAID}/customers/external/acme/credits/grants", grant, "admin")
    assert response.status_code == 201, response.text
    assert response.json()["grant"]["amountDecimal"] == "9123456789.123456"
    metric = (
        '{"type": "metered", "name": "calls", "unitCost": 0.1234567890123456789,'
        ' "currency": "USD", "productId": "p", "aggregation": "COUNT", "eventType": "call"}'
    )
    response = _raw(api, f"{PAYGENTIC}/costs", metric, "admin")
    assert response.status_code == 201, response.text
    assert response.json()["unitCost"] == "0.1234567890123456789"


def test_free_form_numbers_are_json_numbers(api: Api) -> None:
    body = (
        '{"type": "call", "source": "s", "externalSubject": "acme",'
        ' "data": {"seconds": 1.5, "n": 2, "big": 1e3}}'
    )
    response = _raw(api, f"{PAYGENTIC}/events", body)
    assert response.status_code == 202, response.text
    assert _rows(api, events.c.data) == [({"seconds": 1.5, "n": 2, "big": 1000.0},)]
    huge = body.replace("1e3", "1e999")
    response = _raw(api, f"{PAYGENTIC}/events", huge)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "data.big"
    assert response.json()["detail"] == "data.big: number must be finite"
    assert len(_rows(api, events.c.id)) == 1


def test_the_same_instant_at_another_offset_is_the_same_content(api: Api) -> None:
    event = {"type": "call", "source": "s", "externalSubject": "acme", "data": {}}
    first = {**event, "idempotencyKey": "dup", "timestamp": "2026-01-05T00:00:00Z"}
    again = {**first, "timestamp": "2026-01-04T19:00:00-05:00"}
    assert api.post(f"{PAYGENTIC}/events", json=first, scope="ingest").status_code == 202
    response = api.post(f"{PAYGENTIC}/events", json=again, scope="ingest")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "duplicate"
    assert len(_rows(api, events.c.id)) == 1
    signal = {"eventName": "won", "customer": {"externalCustomerId": "acme"}}
    first = {**signal, "idempotencyKey": "s1", "timestamp": "2026-01-05T00:00:00Z"}
    again = {**first, "timestamp": "2026-01-05T05:30:00+05:30"}
    for sent, counts in ((first, (1, 0)), (again, (0, 1))):
        body = api.post(f"{PAID}/signals/bulk", json={"signals": [sent]}, scope="ingest").json()
        assert (body["ingested"], body["duplicates"], body["failed"]) == (*counts, 0)
    assert len(_rows(api, signals.c.id)) == 1
    # An instant with no UTC form is refused by name, as before it was compared.
    early = {**signal, "timestamp": "0001-01-01T00:00:00+01:00"}
    response = api.post(f"{PAID}/signals/bulk", json={"signals": [early]}, scope="ingest")
    assert (response.status_code, response.json()["field"]) == (400, "0.timestamp")


def test_a_mixed_paid_batch_stores_its_valid_items(api: Api) -> None:
    customer = {"externalCustomerId": "acme"}
    sent = [
        {"eventName": "won", "customer": customer, "idempotencyKey": "m1"},
        {"eventName": "", "customer": customer, "idempotencyKey": "m2"},
    ]
    response = api.post(f"{PAID}/signals/bulk", json={"signals": sent}, scope="ingest")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["ingested"], body["duplicates"], body["failed"]) == (
        0,
        1,
        0,
        1,
    )
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "eventName")]
    assert _rows(api, signals.c.idempotency_key) == [("m1",)]
