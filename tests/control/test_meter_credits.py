"""Credits burned by a meter-backed feature: per fresh event the meter reads, in burn order,
each burn a row of the credit ledger with its cause.

The events go through the API: the ledger hands ``consume`` the event rows its write
transaction stored (fresh ones only), so a retried batch burns nothing twice."""

from __future__ import annotations

from typing import Any

from control_support import customer, ok, set_clock

from margin_testing import Api

NOW = "2026-10-15T12:00:00+00:00"


def _events(api: Api, rows: list[tuple[str, str, dict[str, Any]]]) -> dict[str, int]:
    """Ingest the events; the answer's counts."""
    items = [
        {
            "type": kind,
            "customer": who,
            "timestamp": "2026-10-15T09:00:00Z",
            "idempotency_key": f"evt-{i}-{kind}-{who}",
            "data": data,
        }
        for i, (kind, who, data) in enumerate(rows)
    ]
    answer = ok(api.post("/v1/events", json={"items": items}, scope="ingest"))
    return {"ingested": answer["ingested"], "duplicates": answer["duplicates"]}


def test_meter_usage_burns_grants_in_order_with_exact_balances(api: Api) -> None:
    set_clock(api, NOW)
    acme = customer(api)
    customer(api, "globex")  # its events burn nothing of acme's
    meters = [
        {
            "key": "minutes",
            "event_type": "call",
            "value_property": "$.minutes",
            "aggregation": "sum",
        },
        {"key": "exports", "event_type": "export", "aggregation": "count"},
    ]
    for meter in meters:
        ok(api.post("/v1/meters", json=meter), 201)
    features = [
        {"key": "voice", "backed_by": "meter", "meter": "minutes", "credit_currency": "minutes"},
        {
            "key": "export",
            "backed_by": "meter",
            "meter": "exports",
            "credit_currency": "tokens",
            "unit_credits": "2.5",
        },
    ]
    for feature in features:
        ok(api.post("/v1/features", json=feature), 201)
    grants = [
        ("minutes", "10", 5, "2027-01-01T00:00:00Z"),
        ("minutes", "20", 1, None),
        ("minutes", "5", 5, "2026-12-01T00:00:00Z"),
        ("tokens", "6", 1, None),
    ]
    for currency, amount, priority, expiry in grants:
        body = {
            "currency": currency,
            "amount": amount,
            "priority": priority,
            "effective_at": "2026-10-01T00:00:00Z",
            "expires_at": expiry,
        }
        ok(api.post(f"/v1/customers/{acme}/credits/grants", json=body), 201)
    sent: list[tuple[str, str, dict[str, Any]]] = [
        ("call", "acme", {"minutes": 12.25}),
        ("call", "acme", {"minutes": "9"}),
        ("call", "acme", {"other": 1}),  # no value: the meter skips it, nothing burns
        ("call", "globex", {"minutes": 100}),  # no grant of globex's is touched
        ("export", "acme", {}),
        ("export", "acme", {}),
        ("export", "acme", {}),
        ("page_view", "acme", {"minutes": 50}),  # no meter reads it
    ]
    assert _events(api, sent) == {"ingested": 8, "duplicates": 0}
    assert _events(api, sent) == {"ingested": 0, "duplicates": 8}  # a retry burns nothing more
    # 21.25 minutes: priority 1 first (20), then priority 5 by earliest expiry (1.25 of 5).
    remaining = {
        (g["currency"], g["amount"]): g["remaining"]
        for g in ok(api.get(f"/v1/customers/{acme}/credits/grants"))["data"]
    }
    assert remaining == {
        ("minutes", "10"): "10",
        ("minutes", "20"): "0",
        ("minutes", "5"): "3.75",
        ("tokens", "6"): "0",
    }
    balances = ok(api.get(f"/v1/customers/{acme}/credits/balances"))["data"]
    assert [(b["currency"], b["balance"], b["overage"]) for b in balances] == [
        ("minutes", "13.75", "0"),
        ("tokens", "-1.5", "1.5"),  # 3 exports × 2.5 = 7.5 against 6 granted
    ]
    ledger = ok(api.get(f"/v1/customers/{acme}/credits/ledger"))["data"]
    usage = sorted((e["currency"], e["delta"], e["ref"]) for e in ledger if e["cause"] == "usage")
    assert usage == [
        ("minutes", "-1.25", "feature:voice"),
        ("minutes", "-20", "feature:voice"),
        ("tokens", "-1.5", "feature:export"),
        ("tokens", "-6", "feature:export"),
    ]


def test_a_burning_feature_needs_a_meter_that_adds_up_per_event(api: Api) -> None:
    ok(
        api.post(
            "/v1/meters",
            json={
                "key": "peak",
                "event_type": "call",
                "value_property": "$.n",
                "aggregation": "max",
            },
        ),
        201,
    )
    for meter, detail in [
        ("peak", "meter: credits burn by a sum or count meter, not max"),
        ("nope", "meter: no meter 'nope'"),
    ]:
        body = {"key": "f", "backed_by": "meter", "meter": meter, "credit_currency": "tokens"}
        answer = api.post("/v1/features", json=body)
        assert answer.status_code == 422, answer.text
        assert (answer.json()["field"], answer.json()["detail"]) == ("meter", detail)
    assert ok(api.get("/v1/features"))["data"] == []
