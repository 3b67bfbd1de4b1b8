"""Meters: definitions, every aggregation, windows across DST, group-by, filters, unmatched."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api


def _meter(api: Api, **fields: Any) -> Any:
    body = {"key": "tokens", "event_type": "llm", "aggregation": "sum", **fields}
    if body["aggregation"] != "count" and "value_property" not in body:
        body["value_property"] = "$.tokens"
    return api.post("/v1/meters", json=body)


def _events(api: Api, items: list[dict[str, Any]]) -> None:
    response = api.post("/v1/events", json={"items": items}, scope="ingest")
    assert response.status_code == 200, response.text
    assert response.json()["ingested"] == len(items)


EVENTS = [
    {
        "type": "llm",
        "customer": "acme",
        "timestamp": "2026-10-01T10:00:00Z",
        "data": {"tokens": 10, "model": "a", "user": "u1"},
    },
    {
        "type": "llm",
        "customer": "acme",
        "timestamp": "2026-10-01T11:00:00Z",
        "data": {"tokens": "2.5", "model": "b", "user": "u2"},
    },
    {
        "type": "llm",
        "customer": "beta",
        "timestamp": "2026-10-02T10:00:00Z",
        "data": {"tokens": 7, "model": "a", "user": "u1"},
    },
    {
        "type": "llm",
        "customer": "beta",
        "timestamp": "2026-10-03T10:00:00Z",
        "data": {"model": "a", "user": "u3"},
    },
]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("sum", "19.5"),
        ("count", "4"),
        ("unique_count", "3"),
        ("avg", "6.5"),
        ("min", "2.5"),
        ("max", "10"),
        ("latest", "7"),
    ],
)
def test_every_aggregation(api: Api, aggregation: str, expected: str) -> None:
    path = "$.user" if aggregation == "unique_count" else "$.tokens"
    fields: dict[str, Any] = {"aggregation": aggregation}
    if aggregation != "count":
        fields["value_property"] = path
    assert _meter(api, **fields).status_code == 201
    _events(api, EVENTS)
    body = api.get(
        "/v1/meters/tokens/query",
        params={"from": "2026-10-01", "to": "2026-11-01"},
        scope="read",
    ).json()
    assert body["value"] == expected


def test_group_by_filters_and_customer(api: Api) -> None:
    _meter(api, group_by={"model": "$.model"})
    _events(api, EVENTS)
    params: Any = {"from": "2026-10-01", "to": "2026-11-01", "group_by": "model,customer"}
    body = api.get("/v1/meters/tokens/query", params=params, scope="read").json()
    ids = {c["external_id"]: c["id"] for c in api.get("/v1/customers").json()["data"]}
    groups = {
        (g["group_by"]["model"], g["group_by"]["customer"]): g["value"] for g in body["groups"]
    }
    assert groups == {("a", ids["acme"]): "10", ("b", ids["acme"]): "2.5", ("a", ids["beta"]): "7"}
    filtered = api.get(
        "/v1/meters/tokens/query",
        params={"from": "2026-10-01", "to": "2026-11-01", "filter[model]": "a"},
        scope="read",
    ).json()
    assert filtered["value"] == "17"
    one = api.get(
        "/v1/meters/tokens/query",
        params={"from": "2026-10-01", "to": "2026-11-01", "customer": "acme"},
        scope="read",
    ).json()
    assert one["value"] == "12.5"
    bad = api.get("/v1/meters/tokens/query", params={"group_by": "nope"}, scope="read")
    assert bad.status_code == 422
    assert bad.json()["field"] == "group_by"


def test_day_windows_across_dst_in_berlin(api: Api) -> None:
    _meter(api)
    # Berlin leaves summer time on 2026-10-25 at 03:00 CEST (01:00 UTC): that day has 25 h.
    _events(
        api,
        [
            {
                "type": "llm",
                "customer": "c",
                "timestamp": "2026-10-24T21:59:00Z",
                "data": {"tokens": 1},
            },
            {
                "type": "llm",
                "customer": "c",
                "timestamp": "2026-10-24T22:00:00Z",
                "data": {"tokens": 2},
            },
            {
                "type": "llm",
                "customer": "c",
                "timestamp": "2026-10-25T22:59:00Z",
                "data": {"tokens": 4},
            },
            {
                "type": "llm",
                "customer": "c",
                "timestamp": "2026-10-25T23:00:00Z",
                "data": {"tokens": 8},
            },
        ],
    )
    body = api.get(
        "/v1/meters/tokens/query",
        params={
            "from": "2026-10-24T00:00:00Z",
            "to": "2026-10-27T00:00:00Z",
            "window": "day",
            "tz": "Europe/Berlin",
        },
        scope="read",
    ).json()
    assert [(w["window_start"], w["window_end"], w["value"]) for w in body["windows"]] == [
        ("2026-10-23T22:00:00Z", "2026-10-24T22:00:00Z", "1"),
        ("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", "6"),
        ("2026-10-25T23:00:00Z", "2026-10-26T23:00:00Z", "8"),
    ]
    hours = api.get(
        "/v1/meters/tokens/query",
        params={
            "from": "2026-10-24T00:00:00Z",
            "to": "2026-10-27T00:00:00Z",
            "window": "month",
            "tz": "Europe/Berlin",
        },
        scope="read",
    ).json()
    assert [w["value"] for w in hours["windows"]] == ["15"]


def test_cost_meter_and_several_meters_per_event_type(api: Api) -> None:
    assert (
        _meter(
            api,
            key="gpu",
            kind="cost",
            value_property="$.gpu_s",
            unit_cost="0.0004",
            currency="USD",
        ).status_code
        == 201
    )
    assert (
        _meter(
            api,
            key="cpu",
            kind="cost",
            value_property="$.cpu_s",
            unit_cost="0.00001",
            currency="USD",
        ).status_code
        == 201
    )
    _events(
        api,
        [
            {
                "type": "llm",
                "customer": "c",
                "timestamp": "2026-10-01T00:00:00Z",
                "data": {"gpu_s": 100, "cpu_s": 3},
            }
        ],
    )
    params = {"from": "2026-10-01", "to": "2026-11-01"}
    gpu = api.get("/v1/meters/gpu/query", params=params, scope="read").json()
    cpu = api.get("/v1/meters/cpu/query", params=params, scope="read").json()
    assert (gpu["cost"], gpu["currency"]) == ("0.04", "USD")
    assert cpu["cost"] == "0.00003"


def test_bad_definitions_are_problems_and_change_nothing(api: Api) -> None:
    cases = [
        ({"value_property": "$.["}, "value_property"),
        ({"aggregation": "count", "value_property": "$.x"}, "value_property"),
        ({"aggregation": "median"}, "aggregation"),
        ({"kind": "cost"}, "unit_cost"),
        ({"group_by": {"customer": "$.x"}}, "group_by"),
    ]
    for fields, field in cases:
        response = _meter(api, **fields)
        assert response.status_code == 422, fields
        assert field in response.json()["detail"], response.json()
    assert api.get("/v1/meters", scope="read").json()["data"] == []
    assert _meter(api).status_code == 201
    assert _meter(api).status_code == 409
    assert api.post("/v1/meters", json={"key": "x"}, scope="read").status_code == 403


def test_unmatched_events_are_kept_and_listed_and_backfilled(api: Api) -> None:
    _events(api, [*EVENTS, {"type": "other", "customer": "c", "data": {"tokens": 1}}])
    unmatched = api.get("/v1/events", params={"unmatched": "true"}, scope="read").json()
    assert len(unmatched["data"]) == 5
    _meter(api)
    unmatched = api.get("/v1/events", params={"unmatched": "true"}, scope="read").json()
    assert [e["type"] for e in unmatched["data"]] == ["other"]
    body = api.get(
        "/v1/meters/tokens/query", params={"from": "2026-10-01", "to": "2026-11-01"}, scope="read"
    ).json()
    assert body["value"] == "19.5"


def test_meter_update_and_delete(api: Api) -> None:
    _meter(api)
    replaced = api.put(
        "/v1/meters/tokens", json={"key": "tokens", "event_type": "llm", "aggregation": "count"}
    )
    assert replaced.status_code == 200
    assert replaced.json()["aggregation"] == "count"
    assert api.delete("/v1/meters/tokens").status_code == 204
    assert api.get("/v1/meters/tokens", scope="read").status_code == 404
