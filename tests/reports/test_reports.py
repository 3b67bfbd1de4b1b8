"""Reports: margin by customer/agent/signal/provider/model and window, tracking modes (null,
not zero), top N + Other, prior period, CSV, cost per outcome, unit economics, overview."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from billing_support import outcome, setup_plan

if TYPE_CHECKING:  # the api fixture comes from tests/conftest.py
    from tests.conftest import Api


OCT = {"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}


def _seed(api: Api) -> None:
    setup_plan(api)
    api.post("/v1/customers", json={"external_id": "shadow", "tracking_mode": "cost_only"})
    api.post("/v1/customers", json={"external_id": "blind", "tracking_mode": "revenue_only"})
    api.post("/v1/orders", json={"customer": "blind", "plan": "sdr-pro", "starts_at": "2026-10-01"})
    outcome(api, "meeting_booked", "2026-10-05T10:00:00Z", cost="0.40")
    outcome(api, "meeting_booked", "2026-10-25T00:30:00Z", cost="0.40")
    for i in range(10):
        outcome(api, "email_sent", f"2026-10-06T10:{i:02d}:00Z", cost="0.01")
    outcome(api, "meeting_booked", "2026-10-07T10:00:00Z", cost="2", customer="shadow")
    outcome(api, "meeting_booked", "2026-10-07T10:00:00Z", cost="3", customer="blind")


def _by_label(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["label"]: r for r in rows}


def test_margin_by_customer_honours_tracking_modes(api: Api) -> None:
    _seed(api)
    body = api.get(
        "/v1/reports/margin", params={**OCT, "group_by": "customer"}, scope="read"
    ).json()
    rows = _by_label(body["rows"])
    # acme: fee 300 (31 daily accruals) + 2 × 25 + 10 × 0.10 = 351; cost 2 × 0.40 + 10 × 0.01
    assert (rows["acme"]["revenue"], rows["acme"]["cost"]) == ("351", "0.9")
    assert rows["acme"]["profit"] == "350.1"
    assert rows["acme"]["margin_pct"] == "99.74"  # 350.1 / 351
    assert rows["acme"]["signals"] == 12
    assert (rows["shadow"]["cost"], rows["shadow"]["revenue"]) == ("2", None)
    assert rows["shadow"]["margin_pct"] is None
    assert (rows["blind"]["revenue"], rows["blind"]["cost"]) == ("325", None)
    assert body["rows"][0]["label"] == "acme"  # sorted by profit, descending
    assert body["totals"] == [
        {
            "currency": "USD",
            "cost": "2.9",
            "revenue": "676",
            "profit": "673.1",
            "margin_pct": "99.57",
        }
    ]


def test_group_by_signal_provider_and_filters(api: Api) -> None:
    _seed(api)
    params = {**OCT, "group_by": "event_name", "customer": "acme"}
    rows = _by_label(api.get("/v1/reports/margin", params=params, scope="read").json()["rows"])
    assert rows["meeting_booked"]["revenue"] == "50"
    assert rows["meeting_booked"]["cost"] == "0.8"
    assert rows["email_sent"]["revenue"] == "1"
    assert rows["(none)"]["revenue"] == "300"  # fees belong to no signal
    by_model = api.get(
        "/v1/reports/margin",
        params={**OCT, "group_by": "provider,model", "agent": "sdr"},
        scope="read",
    ).json()
    [row] = by_model["rows"]
    assert row["key"] == {"provider": "openai", "model": "gpt-4o"}
    assert (row["cost"], row["revenue"]) == ("2.9", None)
    only = api.get(
        "/v1/reports/margin", params={**OCT, "event_name": "email_sent"}, scope="read"
    ).json()
    assert only["totals"][0]["revenue"] == "1"
    bad = api.get("/v1/reports/margin", params={"group_by": "planet"}, scope="read")
    assert bad.status_code == 422
    assert bad.json()["field"] == "group_by"
    assert (
        api.get("/v1/reports/margin", params={"tz": "Mars/Olympus"}, scope="read").status_code
        == 422
    )


def test_daily_windows_in_berlin_across_dst(api: Api) -> None:
    setup_plan(api, plan={"fees": []})
    # 2026-10-24T22:30Z is 00:30 on the 25th in Berlin; that day lasts 25 h (to 23:00Z).
    outcome(api, "meeting_booked", "2026-10-24T21:30:00Z", cost="1")
    outcome(api, "meeting_booked", "2026-10-24T22:30:00Z", cost="2")
    outcome(api, "meeting_booked", "2026-10-25T22:30:00Z", cost="4")
    params = {
        "from": "2026-10-24T00:00:00Z",
        "to": "2026-10-27T00:00:00Z",
        "window": "day",
        "tz": "Europe/Berlin",
    }
    rows = api.get("/v1/reports/margin", params=params, scope="read").json()["rows"]
    assert [(r["window_start"], r["cost"], r["revenue"]) for r in rows] == [
        ("2026-10-23T22:00:00Z", "1", "25"),
        ("2026-10-24T22:00:00Z", "6", "50"),
    ]


def test_months_in_a_zone_off_the_hour_count_each_fact_once(api: Api) -> None:
    setup_plan(api, plan={"fees": []}, starts_at="2026-08-01")
    # 23:40 on 30 September in Kolkata: in the hour 18:00-19:00 UTC that both months cut.
    outcome(api, "meeting_booked", "2026-09-30T18:10:00Z", cost="1")

    def report(start: str, end: str) -> tuple[str, str, list[tuple[str, str]]]:
        params = {"from": start, "to": end, "tz": "Asia/Kolkata"}
        answer = api.get("/v1/reports/margin", params=params, scope="read").json()
        totals = [(t["revenue"], t["cost"]) for t in answer["totals"]]
        return (answer["from"], answer["to"], totals)

    sep, oct_, nov = (
        "2026-09-01T00:00:00+05:30",
        "2026-10-01T00:00:00+05:30",
        "2026-11-01T00:00:00+05:30",
    )
    assert report(sep, oct_) == ("2026-08-31T19:00:00Z", "2026-09-30T19:00:00Z", [("25", "1")])
    assert report(oct_, nov) == ("2026-09-30T19:00:00Z", "2026-10-31T19:00:00Z", [])
    assert report(sep, nov)[2] == [("25", "1")]


def test_the_most_windows_a_report_takes_in_a_zone_off_the_hour(api: Api) -> None:
    # 2,000 days that start at 18:30 UTC: each cuts an hour and a day of the rollups, so the
    # facts are read in thousands of ranges, more than SQLite nests in one condition (1,000).
    setup_plan(api, plan={"fees": []})
    outcome(api, "meeting_booked", "2026-10-05T17:00:00Z", cost="1")
    outcome(api, "meeting_booked", "2026-10-05T20:00:00Z", cost="2")
    params = {"window": "day", "tz": "Asia/Kolkata", "to": "2026-12-31T18:30:00Z"}
    start = {"from": "2021-07-11T18:30:00Z"}
    answer = api.get("/v1/reports/margin", params={**params, **start}, scope="read")
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    assert [(r["window_start"], r["cost"], r["revenue"]) for r in rows] == [
        ("2026-10-04T18:30:00Z", "1", "25"),
        ("2026-10-05T18:30:00Z", "2", "25"),
    ]
    start = {"from": "2021-07-10T18:30:00Z"}  # one day more
    refused = api.get("/v1/reports/margin", params={**params, **start}, scope="read")
    assert (refused.status_code, refused.json()["field"]) == (422, "window")


def test_top_n_other_prior_period_and_csv(api: Api) -> None:
    _seed(api)
    params = {**OCT, "group_by": "customer", "top": 1, "sort": "cost", "compare": "true"}
    rows = api.get("/v1/reports/margin", params=params, scope="read").json()["rows"]
    assert [r["label"] for r in rows] == ["shadow", "Other"]
    assert rows[1]["is_other"] is True
    assert rows[1]["cost"] == "0.9"  # acme's cost; blind's is not recorded
    assert rows[0]["prior"]["cost"] is None
    assert rows[0]["change_pct"]["cost"] is None
    csv = api.get(
        "/v1/reports/margin", params={**OCT, "group_by": "customer", "format": "csv"}, scope="read"
    )
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert (
        lines[0]
        == "customer,label,currency,cost,revenue,profit,margin_pct,signals,records,unpriced,"
        "cost_ai,cost_manual,cost_meter"
    )
    assert any(line.endswith(",shadow,USD,2,,,,1,1,0,2,0,0") for line in lines)


def test_the_prior_period_of_a_period_from_1970_starts_in_1970(api: Api) -> None:
    # Nothing is dated before 1970: the period compared with is cut there, not refused.
    _seed(api)
    since = {"from": "1970-01-01", "to": "2199-12-31", "group_by": "customer", "compare": "true"}
    answer = api.get("/v1/reports/margin", params=since, scope="read")
    assert answer.status_code == 200, answer.text
    october = api.get("/v1/reports/margin", params={**OCT, "group_by": "customer"}, scope="read")
    rows = {r["label"]: r for r in answer.json()["rows"]}
    assert {label: r["cost"] for label, r in rows.items()} == {
        r["label"]: r["cost"] for r in october.json()["rows"]
    }
    assert rows["shadow"]["prior"]["cost"] is None
    # Given only its end, a period is the 30 days up to it, cut at 1970 as well.
    for path in ("/v1/reports/margin", "/v1/reports/unit-economics", "/v1/reports/overview"):
        early = api.get(path, params={"to": "1970-01-02", "tz": "Etc/GMT+12"}, scope="read")
        assert early.status_code == 200, (path, early.text)
        assert early.json()["from"] == "1970-01-01T00:00:00Z"
    first_year = {"from": "1970-06-01", "to": "1971-01-01"}
    overview = api.get("/v1/reports/overview", params=first_year, scope="read")
    assert overview.status_code == 200, overview.text
    assert overview.json()["prior"] == {
        "from": "1970-01-01T00:00:00Z",
        "to": "1970-06-01T00:00:00Z",
    }


def test_cost_per_outcome_and_unit_economics(api: Api) -> None:
    _seed(api)
    body = api.get(
        "/v1/reports/cost-per-outcome",
        params={**OCT, "event_name": "meeting_booked", "customer": "acme"},
        scope="read",
    ).json()
    [row] = body["rows"]
    assert (row["outcomes"], row["cost"], row["cost_per_outcome"]) == (2, "0.8", "0.4")
    assert row["revenue_per_outcome"] == "25"
    units = _by_label(
        api.get("/v1/reports/unit-economics", params=OCT, scope="read").json()["rows"]
    )
    # acme: 12 outcomes; 351 / 12 = 29.25 revenue, 0.9 / 12 = 0.075 cost per outcome
    assert units["acme"]["revenue_per_outcome"] == "29.25"
    assert units["acme"]["cost_per_outcome"] == "0.075"
    assert units["shadow"]["revenue_per_outcome"] is None


def test_overview_and_summary(api: Api) -> None:
    _seed(api)
    body = api.get(
        "/v1/reports/overview", params={**OCT, "tz": "Europe/Berlin"}, scope="read"
    ).json()
    [total] = body["totals"]
    assert (total["cost"], total["revenue"], total["profit"]) == ("2.9", "676", "673.1")
    assert total["prior"]["revenue"] is None
    assert len({s["date"] for s in body["series"]}) >= 28
    assert sum(Decimal(s["cost"]) for s in body["series"] if s["cost"]) == Decimal("2.9")
    assert body["top_customers"][0]["label"] == "acme"
    assert body["top_agents"][0]["label"] == "sdr"
    assert body["cost_by_provider"][0]["cost"] == "2.9"
    assert body["cost_by_model"][0]["key"] == {"provider": "openai", "model": "gpt-4o"}
    assert body["unpriced"] == {"records": 0}
    # The headline profit is the customers' profits and the figures of those whose cost or
    # revenue is not tracked: 350.1 (acme) − 2 (shadow's cost) + 325 (blind's revenue).
    assert [(p["part"], p["reason"], p["customers"], p["amount"]) for p in total["parts"]] == [
        ("customers_with_profit", None, 1, "350.1"),
        ("cost_without_revenue", "cost-only", 1, "-2"),
        ("revenue_without_cost", "revenue-only", 1, "325"),
    ]
    assert sum(Decimal(p["amount"]) for p in total["parts"]) == Decimal(total["profit"])
    assert total["notes"] == [
        "includes 2.00 USD cost of 1 cost-only customer",
        "includes 325.00 USD revenue of 1 revenue-only customer",
    ]
    assert total["cost_by_source"] == {"ai": "2.9", "manual": "0", "meter": "0"}
    summary = api.get("/v1/reports/summary", params=OCT, scope="read").json()
    groups = _by_label(summary["rows"])
    assert groups["acme"]["revenue"] == "351"
    assert groups["shadow"]["revenue"] is None
