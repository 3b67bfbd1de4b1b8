"""Control-plane request bodies: what no store can hold (NUL, lone surrogates, 64-bit
overflow, non-finite numbers, numbers a float would round, deep nesting) is refused with a
422 naming the value's path, and nothing is stored, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from control_support import customer, ok

from margin.server.problems import Problem, problem_response
from margin_testing import Api

NUL = "a\\u0000b"  # as JSON text: the escapes reach the server as sent
SURROGATE = "a\\ud800b"

#: (method, path under the customer or absolute, JSON body with {bad} in place, field)
CASES = [
    ("POST", "/v1/features", '{"key":"k0","name":"{bad}"}', "name"),
    (
        "POST",
        "/v1/features",
        '{"key":"k0","backed_by":"signals","event_name":"{bad}"}',
        "event_name",
    ),
    ("POST", "/v1/alerts/rules", '{"name":"{bad}","metric":"ai_cost","thresholds":["1"]}', "name"),
    (
        "POST",
        "/v1/alerts/rules",
        '{"name":"r","metric":"balance","credit_currency":"{bad}","thresholds":["1"]}',
        "credit_currency",
    ),
    (
        "POST",
        "/v1/alerts/rules",
        '{"name":"r","metric":"usage","per":"customer","feature":"{bad}","thresholds":["1"]}',
        "feature",
    ),
    (
        "POST",
        "/v1/alerts/rules",
        '{"name":"r","metric":"ai_cost","thresholds":["{bad}"]}',
        "thresholds.0",
    ),
    ("POST", "/v1/webhooks/endpoints", '{"url":"https://x.test/{bad}"}', "url"),
    ("POST", "units", '{"external_id":"{bad}"}', "external_id"),
    ("POST", "units", '{"external_id":"u1","name":"{bad}"}', "name"),
    ("POST", "units", '{"external_id":"u1","external_type":"{bad}"}', "external_type"),
    ("POST", "units", '{"external_id":"u1","metadata":{"a":"{bad}"}}', "metadata.a"),
    ("POST", "units", '{"external_id":"u1","metadata":{"{bad}":1}}', "metadata"),
    ("PATCH", "units/u0", '{"name":"{bad}"}', "name"),
    ("PATCH", "units/u0", '{"external_type":"{bad}"}', "external_type"),
    ("PATCH", "units/u0", '{"metadata":{"a":["{bad}"]}}', "metadata.a.0"),
    (
        "POST",
        "credits/grants",
        '{"currency":"meetings","amount":"1","description":"{bad}"}',
        "description",
    ),
    (
        "PUT",
        "entitlements",
        '{"feature":"flag","kind":"static","config":{"a":"{bad}"}}',
        "config.a",
    ),
    ("PUT", "entitlements", '{"feature":"{bad}","kind":"boolean"}', "feature"),
]


def _state(api: Api, cid: str) -> list[Any]:
    """Everything the cases could have stored."""
    paths = [
        "/v1/features",
        "/v1/alerts/rules",
        "/v1/webhooks/endpoints",
        f"/v1/customers/{cid}/units",
        f"/v1/customers/{cid}/credits/grants",
        f"/v1/customers/{cid}/entitlements",
    ]
    return [ok(api.get(p)) for p in paths]


@pytest.fixture
def cid(api: Api) -> str:
    made = customer(api)
    ok(api.post("/v1/features", json={"key": "flag"}), 201)
    ok(api.post(f"/v1/customers/{made}/units", json={"external_id": "u0"}), 201)
    return made


def send(api: Api, method: str, path: str, body: str, cid: str) -> Any:
    url = path if path.startswith("/") else f"/v1/customers/{cid}/{path}"
    headers = {"content-type": "application/json"}
    return api.request(method, url, content=body.encode(), headers=headers)


def assert_refused(answer: Any, field: str) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(("method", "path", "body", "field"), CASES)
def test_text_no_store_holds_is_refused(
    api: Api, cid: str, bad: str, method: str, path: str, body: str, field: str
) -> None:
    before = _state(api, cid)
    assert_refused(send(api, method, path, body.replace("{bad}", bad), cid), field)
    assert _state(api, cid) == before


FREE_FORM = [
    ("POST", "units", '{"external_id":"u1","metadata":{bad}}', "metadata"),
    ("PATCH", "units/u0", '{"metadata":{bad}}', "metadata"),
    ("PUT", "entitlements", '{"feature":"flag","kind":"static","config":{bad}}', "config"),
]
#: (JSON value, the path of the refused value inside the field)
VALUES = {
    "big_int": ('{"seats":99999999999999999999999}', ".seats"),
    "nan": ('{"a":NaN}', ".a"),
    "minus_infinity": ('{"a":-Infinity}', ".a"),
    "overflowing_float": ('{"a":1e400}', ".a"),
    "too_precise": ('{"a":0.1000000000000000055511151231257827}', ".a"),
    "tiny": ('{"a":1e-400}', ".a"),
    "deep": ('{"a":' * 40 + "1" + "}" * 40, ".a" * 31),
}


@pytest.mark.parametrize(("value", "inner"), list(VALUES.values()), ids=list(VALUES))
@pytest.mark.parametrize(("method", "path", "body", "field"), FREE_FORM)
def test_free_form_values_no_store_holds_are_refused(
    api: Api, cid: str, value: str, inner: str, method: str, path: str, body: str, field: str
) -> None:
    before = _state(api, cid)
    assert_refused(send(api, method, path, body.replace("{bad}", value), cid), field + inner)
    assert _state(api, cid) == before


def test_a_refusal_echoing_a_lone_surrogate_key_is_answered(api: Api, cid: str) -> None:
    body = '{"external_id":"u1","metadata":{"a":{"\\ud800":1}}}'
    answer = send(api, "POST", "units", body, cid)
    assert_refused(answer, "metadata.a")
    assert '"\\ud800"' in answer.json()["detail"]
    assert [u["external_id"] for u in ok(api.get(f"/v1/customers/{cid}/units"))["data"]] == ["u0"]


def test_problem_response_escapes_lone_surrogates() -> None:
    problem = Problem(422, "key '\ud800': bad", field="a.\udfff", errors=[{"field": "\ud800"}])
    body = orjson.loads(problem_response(problem).body)
    assert (body["detail"], body["field"]) == ("key '\\ud800': bad", "a.\\udfff")
    assert body["errors"] == [{"field": "\\ud800"}]


@pytest.mark.parametrize("currency", ["Meetings", "9lives", "a-b", "x" * 40])
def test_an_alert_rule_credit_currency_is_one_grants_take(api: Api, currency: str) -> None:
    body = {"name": "r", "metric": "balance", "credit_currency": currency, "thresholds": ["1"]}
    assert_refused(api.post("/v1/alerts/rules", json=body), "credit_currency")
    assert ok(api.get("/v1/alerts/rules")) == {"data": []}


@pytest.mark.parametrize("threshold", ["1_000", "\u0661", "1e", "NaN", "Infinity%"])
def test_alert_thresholds_are_ascii_decimals(api: Api, threshold: str) -> None:
    body = {"name": "r", "metric": "ai_cost", "thresholds": [threshold]}
    assert_refused(api.post("/v1/alerts/rules", json=body), "thresholds")
    assert ok(api.get("/v1/alerts/rules")) == {"data": []}
    ok(api.post("/v1/alerts/rules", json={**body, "thresholds": ["1000", "80%"]}), 201)


def test_a_unit_external_id_shaped_like_a_unit_id_is_refused(api: Api, cid: str) -> None:
    (u0,) = ok(api.get(f"/v1/customers/{cid}/units"))["data"]
    answer = api.post(f"/v1/customers/{cid}/units", json={"external_id": u0["id"]})
    assert_refused(answer, "external_id")
    assert ok(api.get(f"/v1/customers/{cid}/units/{u0['id']}"))["external_id"] == "u0"
    assert len(ok(api.get(f"/v1/customers/{cid}/units"))["data"]) == 1
