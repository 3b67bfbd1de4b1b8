"""Daily rollups stay equal to the hourly ones they summarise, and reports that mix the two
(ragged hours at the edges, whole days inside) add up exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

from billing_support import outcome, setup_plan
from margin._time import DAY_US
from margin.reports.daily import rebuild

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api


def _compare(api: Api) -> None:
    day = f"bucket - bucket % {DAY_US}"
    queries = [
        (
            f"SELECT org_id, {day} AS d, customer_id, agent_id, event_name, provider, model,"
            " currency, sum(amount_nanos), sum(records), sum(unpriced) FROM cost_rollups"
            f" GROUP BY org_id, {day}, customer_id, agent_id, event_name, provider, model,"
            " currency",
            "SELECT org_id, bucket, customer_id, agent_id, event_name, provider, model, currency,"
            " amount_nanos, records, unpriced FROM cost_rollups_daily WHERE records != 0",
        ),
        (
            f"SELECT org_id, {day} AS d, customer_id, agent_id, event_name, sum(signals)"
            f" FROM signal_rollups GROUP BY org_id, {day}, customer_id, agent_id, event_name",
            "SELECT org_id, bucket, customer_id, agent_id, event_name, signals"
            " FROM signal_rollups_daily",
        ),
    ]
    with api.db.read() as conn:
        for hourly, daily in queries:
            expected = sorted(
                tuple(int(v) if not isinstance(v, str) else v for v in r)
                for r in conn.execute(text(hourly))
            )
            got = sorted(
                tuple(int(v) if not isinstance(v, str) else v for v in r)
                for r in conn.execute(text(daily))
            )
            assert [r for r in expected if len(r) == 6 or r[9] != 0] == got


def test_daily_rollups_follow_ingest_and_attribution(api: Api) -> None:
    setup_plan(api)
    # Costs before and after their signal (attribution relinks them), across midnight.
    cost = {
        "customer": "acme",
        "agent": "sdr",
        "trace_id": "a" * 32,
        "amount": "0.5",
        "currency": "USD",
        "timestamp": "2026-10-05T23:30:00Z",
    }
    assert api.post("/v1/costs", json=cost, scope="ingest").status_code == 201
    signal = {
        "event_name": "meeting_booked",
        "customer": "acme",
        "agent": "sdr",
        "timestamp": "2026-10-06T00:30:00Z",
        "trace_id": "a" * 32,
        "cost_tracing": True,
    }
    assert api.post("/v1/signals", json=signal, scope="ingest").status_code == 201
    outcome(api, "email_sent", "2026-10-06T12:00:00Z", cost="0.25")
    _compare(api)
    with api.db.write() as conn:
        rebuild(conn, api.tenant.org_id)
    _compare(api)


def test_reports_mixing_hours_and_days_add_up(api: Api) -> None:
    setup_plan(api, plan={"fees": []})
    times = [
        "2026-10-05T09:00:00Z",
        "2026-10-05T11:00:00Z",
        "2026-10-12T00:00:00Z",
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:30:00Z",
    ]
    for ts in times:
        outcome(api, "meeting_booked", ts, cost="1")
    params = {"from": "2026-10-05T10:00:00Z", "to": "2026-10-25T01:00:00Z"}
    [total] = api.get("/v1/reports/margin", params=params, scope="read").json()["totals"]
    # 3 outcomes inside: 10-05 11:00, 10-12 00:00, 10-25 00:30 → 3 × 25 revenue, 3 × 1 cost
    assert (total["revenue"], total["cost"]) == ("75", "3")
