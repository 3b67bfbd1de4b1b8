"""End to end: the demo AI SDR agent for one month — signals, AI costs attributed through
cost-tracing signals, a plan with outcome prices and a monthly fee — to the invoice, its AI
cost and margin, and the margin report, all equal to hand-computed values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # this directory's conftest is the e2e one; the api fixture is the root's
    from tests.conftest import Api


def _trace(n: int) -> str:
    return f"{n:032x}"


def test_ai_sdr_month_invoice_cost_and_margin(api: Api) -> None:
    assert (
        api.post("/v1/agents", json={"external_id": "ai-sdr", "name": "AI SDR"}).status_code == 201
    )
    api.post("/v1/customers", json={"external_id": "globex", "name": "Globex"})
    plan = {
        "key": "sdr-standard",
        "agent": "ai-sdr",
        "currency": "USD",
        "outcomes": [
            {"event_name": "email_sent", "price": "0.25"},
            {"event_name": "meeting_booked", "price": "50"},
        ],
        "fees": [{"key": "seat", "name": "AI SDR seat", "amount": "199"}],
    }
    assert api.post("/v1/plans", json=plan).status_code == 201
    order = {"customer": "globex", "plan": "sdr-standard", "starts_at": "2026-10-01"}
    assert api.post("/v1/orders", json=order).status_code == 201

    signals: list[dict[str, Any]] = []
    costs: list[dict[str, Any]] = []
    n = 0
    for day in range(1, 32):
        for hour in (9, 15):  # two emails a day: 62 emails
            n += 1
            ts = f"2026-10-{day:02d}T{hour:02d}:00:00Z"
            signals.append(
                {
                    "event_name": "email_sent",
                    "customer": "globex",
                    "agent": "ai-sdr",
                    "timestamp": ts,
                    "trace_id": _trace(n),
                    "cost_tracing": True,
                }
            )
            # Two AI calls per email: drafting 0.0031 + checking 0.0012 = 0.0043
            for amount, model in (("0.0031", "gpt-4o"), ("0.0012", "gpt-4o-mini")):
                costs.append(
                    {
                        "customer": "globex",
                        "agent": "ai-sdr",
                        "trace_id": _trace(n),
                        "amount": amount,
                        "currency": "USD",
                        "provider": "openai",
                        "model": model,
                        "timestamp": ts,
                    }
                )
        if day % 3 == 0 and day <= 27:  # days 3, 6, …, 27: 9 meetings
            n += 1
            ts = f"2026-10-{day:02d}T11:00:00Z"
            signals.append(
                {
                    "event_name": "meeting_booked",
                    "customer": "globex",
                    "agent": "ai-sdr",
                    "timestamp": ts,
                    "trace_id": _trace(n),
                    "cost_tracing": True,
                }
            )
            costs.append(
                {
                    "customer": "globex",
                    "agent": "ai-sdr",
                    "trace_id": _trace(n),
                    "amount": "0.021",
                    "currency": "USD",
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "timestamp": ts,
                }
            )
    # Research that served no outcome: a cost, but attributed to no signal.
    costs.append(
        {
            "customer": "globex",
            "agent": "ai-sdr",
            "amount": "0.5",
            "currency": "USD",
            "provider": "openai",
            "model": "gpt-4o",
            "timestamp": "2026-10-20T08:00:00Z",
        }
    )
    # Half the costs arrive before their signal, half after: attribution works either way.
    half = len(costs) // 2
    assert (
        api.post("/v1/costs", json={"items": costs[:half]}, scope="ingest").json()["ingested"]
        == half
    )
    assert api.post("/v1/signals", json={"items": signals}, scope="ingest").json()["ingested"] == 71
    rest = len(costs) - half
    assert (
        api.post("/v1/costs", json={"items": costs[half:]}, scope="ingest").json()["ingested"]
        == rest
    )

    [invoice] = api.post("/v1/invoices/generate", json={"period": "2026-10"}).json()["data"]
    lines = {line["key"]: line for line in invoice["lines"]}
    assert lines["fee:seat"]["amount"] == "199"
    # 62 emails × 0.25 = 15.5; AI cost 62 × 0.0043 = 0.2666
    assert (lines["outcome:email_sent"]["quantity"], lines["outcome:email_sent"]["amount"]) == (
        "62",
        "15.5",
    )
    assert lines["outcome:email_sent"]["cost"] == "0.2666"
    # 9 meetings × 50 = 450; AI cost 9 × 0.021 = 0.189
    assert (
        lines["outcome:meeting_booked"]["quantity"],
        lines["outcome:meeting_booked"]["amount"],
    ) == ("9", "450")
    assert lines["outcome:meeting_booked"]["cost"] == "0.189"
    # Total 199 + 15.5 + 450 = 664.5; AI cost 0.2666 + 0.189 = 0.4556; margin 664.0444
    assert invoice["total"] == "664.5"
    assert invoice["cost"] == "0.4556"
    assert invoice["margin"] == "664.0444"
    assert invoice["margin_pct"] == "99.93"  # 664.0444 / 664.5 = 99.9314…%

    final = api.post(f"/v1/invoices/{invoice['id']}/finalize").json()
    assert final["status"] == "finalized"
    assert final["number"].startswith("INV-")
    assert final["number"].endswith("-0001")
    assert final["total"] == "664.5"
    page = api.get(f"/v1/invoices/{invoice['id']}.html", scope="read").text
    assert final["number"] in page
    # Formatted to the cent, with the seller (the organization), the issue and due dates.
    assert "664.50 USD" in page
    assert "199.00 USD" in page
    assert "0.25 USD" in page  # the unit price of an email
    issued = final["issued_at"][:10]
    assert final["due_at"][:10] > issued
    assert f"<dt>Issued</dt><dd>{issued}</dd>" in page
    assert f"<dt>Due</dt><dd>{final['due_at'][:10]}</dd>" in page
    assert "<strong>acme</strong>" in page  # the organization's name, as the seller
    assert "2026-10-01 – 2026-10-31" in page

    # The report adds the unattributed research cost: 0.4556 + 0.5 = 0.9556;
    # revenue 664.5 (the fee accrues daily, 31 days = 199); profit 663.5444.
    report = api.get(
        "/v1/reports/margin",
        params={"from": "2026-10-01", "to": "2026-11-01", "group_by": "customer"},
        scope="read",
    ).json()
    [row] = report["rows"]
    assert (row["label"], row["revenue"], row["cost"], row["profit"]) == (
        "Globex",
        "664.5",
        "0.9556",
        "663.5444",
    )
    per = api.get(
        "/v1/reports/cost-per-outcome",
        params={"from": "2026-10-01", "to": "2026-11-01", "event_name": "meeting_booked"},
        scope="read",
    ).json()
    assert per["rows"][0]["cost_per_outcome"] == "0.021"  # 0.189 / 9
