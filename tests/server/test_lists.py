"""``GET /v1/signals`` and ``GET /v1/costs``: filters by time, customer and agent."""

from __future__ import annotations

from margin_testing import Api


def _seed(api: Api) -> None:
    signals = [
        {
            "event_name": "email_sent",
            "customer": c,
            "agent": a,
            "timestamp": ts,
            "idempotency_key": f"s{i}",
        }
        for i, (c, a, ts) in enumerate(
            [
                ("acme", "sdr", "2026-10-01T10:00:00Z"),
                ("acme", "support", "2026-10-02T10:00:00Z"),
                ("globex", "sdr", "2026-10-03T10:00:00Z"),
            ]
        )
    ]
    api.post("/v1/signals", json={"items": signals}, scope="ingest")
    costs = [
        {
            **{k: s[k] for k in ("customer", "agent", "timestamp")},
            "amount": "0.01",
            "currency": "USD",
            "idempotency_key": f"c{i}",
        }
        for i, s in enumerate(signals)
    ]
    api.post("/v1/costs", json={"items": costs}, scope="ingest")


def test_signals_and_costs_filter_by_time_customer_and_agent(api: Api) -> None:
    _seed(api)
    for path in ("/v1/signals", "/v1/costs"):

        def keys(**params: str) -> list[str]:
            body = api.get(path, params=params, scope="read").json()  # noqa: B023
            return sorted(str(int(row["ts"][8:10]) - 1) for row in body["data"])  # day → item

        assert keys() == ["0", "1", "2"]
        assert keys(**{"from": "2026-10-02"}) == ["1", "2"]
        assert keys(to="2026-10-02T10:00:00Z") == ["0"]
        assert keys(**{"from": "2026-10-01", "to": "2026-10-03"}) == ["0", "1"]
        assert keys(customer="acme") == ["0", "1"]
        assert keys(agent="sdr") == ["0", "2"]
        assert keys(agent="sdr", customer="acme") == ["0"]
        assert keys(agent="nobody") == []
        bad = api.get(path, params={"from": "last week"}, scope="read")
        assert bad.status_code == 422
        assert bad.json()["field"] == "from"
