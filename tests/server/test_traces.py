"""Attribution through OTLP: a trace's costs belong to its earliest cost-tracing signal,
whatever the arrival order; several such signals flag the trace and count costs once."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from test_otlp import (
    costs_of,
    export,
    gen_ai,
    new_trace,
    other_tenant,
    post,
    signal_attrs,
    span,
)

if TYPE_CHECKING:  # at runtime ``conftest`` may name another directory's conftest module
    from conftest import Api


def provided(amount: str, **extra: Any) -> dict[str, Any]:
    return gen_ai(**{"gen_ai.usage.cost.amount": amount, **extra})


def signal_id(api: Api, trace: str, event: str) -> str:
    found = api.get("/v1/signals", params={"trace_id": trace, "event_name": event}, scope="read")
    [item] = found.json()["data"]
    sid: str = item["id"]
    return sid


def test_cost_before_signal_and_signal_before_cost_attribute_the_same(api: Api) -> None:
    first, second = new_trace(), new_trace()
    # Trace 1: costs first, then the signal; trace 2: the signal first, then the costs.
    post(api, export(span(first, provided("0.25")), span(first, provided("0.0005"))))
    post(api, export(span(first, signal_attrs("meeting_booked"), name="margin.signal", at=5)))
    post(api, export(span(second, signal_attrs("meeting_booked"), name="margin.signal")))
    post(api, export(span(second, provided("0.25")), span(second, provided("0.0005"))))
    for trace in (first, second):
        sid = signal_id(api, trace, "meeting_booked")
        body = api.get(f"/v1/signals/{sid}", scope="read").json()
        assert body["attributed_cost"] == {"USD": "0.2505"}
        assert body["costs"] == 2
        assert body["cost_tracing"] is True
        assert body["data"] == {"deal": 1}
        view = api.get(f"/v1/traces/{trace}", scope="read").json()
        assert {c["signal_id"] for c in view["costs"]} == {sid}
        attribution = view["attribution"]
        assert attribution["signal_id"] == sid
        assert attribution["event_name"] == "meeting_booked"
        assert attribution["cost_total"] == {"USD": "0.2505"}
        assert attribution["flagged"] is False
    report = api.get("/v1/reports/summary", scope="read")
    assert report.status_code == 200


def test_two_cost_tracing_signals_flag_the_trace_and_count_costs_once(api: Api) -> None:
    trace = new_trace()
    request = export(
        span(trace, signal_attrs("reply_sent"), name="margin.signal", at=1),
        span(trace, provided("0.1")),
        span(trace, gen_ai(), at=3),
        span(trace, signal_attrs("meeting_booked"), name="margin.signal", at=9),
        span(trace, signal_attrs("note", tracing=False), name="margin.signal", at=10),
    )
    assert post(api, request, scope="ingest").status_code == 200
    earliest = signal_id(api, trace, "reply_sent")
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    attribution = view["attribution"]
    assert attribution["flagged"] is True
    assert attribution["signal_id"] == earliest
    assert attribution["flag_reason"] == (
        f"several cost-tracing signals; costs attributed to the earliest, {earliest}"
    )
    total = attribution["cost_total"]["USD"]
    assert Decimal(total) == Decimal("0.1") + Decimal("0.00475")
    attributed = [
        Decimal(
            api.get(f"/v1/signals/{s['id']}", scope="read")
            .json()["attributed_cost"]
            .get("USD", "0")
        )
        for s in view["signals"]
    ]
    assert sum(attributed) == Decimal(total)
    flagged = api.get("/v1/traces", params={"flagged": "true"}, scope="read").json()
    assert flagged["data"] == [{"trace_id": trace, "cost_tracing_signals": 2, "flagged": True}]


def test_paid_signal_span_and_openinference_costs(api: Api) -> None:
    trace = new_trace()
    paid = {"external_customer_id": "acme-1", "external_agent_id": "prod-1"}
    request = export(
        span(
            trace,
            {**paid, "event_name": "task_done", "data": '{"paid": {"enable_cost_tracing": true}}'},
            name="paid.trace.signal",
        ),
        span(
            trace,
            {
                **paid,
                "llm.provider": "openai",
                "llm.model_name": "gpt-4o",
                "llm.token_count.prompt": 1200,
                "llm.token_count.completion": 300,
                "llm.token_count.prompt_details.cache_read": 1000,
            },
            name="paid.trace.ChatCompletion",
        ),
    )
    assert post(api, request, scope="ingest").status_code == 200
    sid = signal_id(api, trace, "task_done")
    body = api.get(f"/v1/signals/{sid}", scope="read").json()
    assert body["attributed_cost"] == {"USD": "0.00475"}
    listed = api.get("/v1/signals", params={"customer": "acme-1"}, scope="read").json()
    assert [s["id"] for s in listed["data"]] == [sid]
    assert api.get("/v1/signals", params={"customer": "nobody"}, scope="read").json()["data"] == []


def test_unpriced_costs_are_listed(api: Api) -> None:
    trace = new_trace()
    unknown = gen_ai(**{"gen_ai.request.model": "no-such-model-xyz"})
    post(api, export(span(trace, unknown), span(trace, gen_ai())), scope="ingest")
    unpriced = api.get("/v1/costs", params={"priced_by": "unpriced"}, scope="read").json()["data"]
    assert [c["model"] for c in unpriced] == ["no-such-model-xyz"]
    assert unpriced[0]["amount"] is None
    assert unpriced[0]["unpriced_reason"]
    assert len(costs_of(api, trace)) == 2
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    assert view["attribution"]["unpriced"] == 1
    bad = api.get("/v1/costs", params={"priced_by": "free"}, scope="read")
    assert bad.status_code == 422
    page = api.get("/v1/costs", params={"limit": 1}, scope="read").json()
    rest = api.get("/v1/costs", params={"cursor": page["next_cursor"]}, scope="read").json()
    assert len(page["data"]) == 1
    assert len(rest["data"]) == 1


def test_views_are_tenant_scoped_and_404(api: Api) -> None:
    trace = new_trace()
    post(api, export(span(trace, signal_attrs("won"), name="margin.signal")), scope="ingest")
    sid = signal_id(api, trace, "won")
    headers = other_tenant(api)
    assert api.client.get(f"/v1/traces/{trace}", headers=headers).status_code == 404
    assert api.client.get(f"/v1/signals/{sid}", headers=headers).status_code == 404
    assert api.client.get("/v1/signals", headers=headers).json()["data"] == []
    assert api.get(f"/v1/traces/{new_trace()}", scope="read").status_code == 404
    assert api.get("/v1/signals/sig_nope", scope="read").status_code == 404
    bad = api.get("/v1/traces/not-a-trace", scope="read")
    assert bad.status_code == 422
    assert bad.json()["field"] == "trace_id"
    assert api.get(f"/v1/traces/{trace}", scope="ingest").status_code == 403
    listed = api.get("/v1/traces", scope="read").json()["data"]
    assert listed == [{"trace_id": trace, "spans": 1}]


def test_traces_are_listed_by_the_time_they_were_active(api: Api) -> None:
    early, late = new_trace(), new_trace()
    hour = 3_600_000  # ms
    for trace, at in ((early, 0), (late, 5 * hour)):
        post(
            api,
            export(
                span(trace, signal_attrs("reply_sent"), name="margin.signal", at=at),
                span(trace, gen_ai(), at=at + 1),
                span(trace, signal_attrs("meeting_booked"), name="margin.signal", at=at + 2),
            ),
        )
    # T0 is 2026-05-28T20:26:40Z: ``early`` ends just after it, ``late`` five hours later.
    cases = {
        (): [early, late],
        (("from", "2026-05-28T21:00:00Z"),): [late],
        (("to", "2026-05-28T21:00:00Z"),): [early],
        (("from", "2026-05-30"),): [],
    }
    for flagged in ("false", "true"):
        for filters, expected in cases.items():
            params = {"flagged": flagged, **dict(filters)}
            found = api.get("/v1/traces", params=params, scope="read").json()["data"]
            assert sorted(t["trace_id"] for t in found) == sorted(expected), params
            count = "cost_tracing_signals" if flagged == "true" else "spans"
            assert {t[count] for t in found} <= {2 if flagged == "true" else 3}
    bad = api.get("/v1/traces", params={"from": "yesterday"}, scope="read")
    assert bad.status_code == 422
    assert bad.json()["field"] == "from"


def test_otlp_and_rest_costs_of_one_trace_are_found_and_attributed_together(api: Api) -> None:
    # The trace view, the cost list and a later signal's attribution see both kinds.
    trace, other = new_trace(), new_trace()
    post(api, export(span(trace, provided("0.25")), span(trace, provided("0.5"))))
    post(api, export(span(other, provided("7"))))
    rest = {
        "customer": "acme",
        "trace_id": trace,
        "provider": "openai",
        "model": "gpt-4o",
        "amount": "0.125",
        "currency": "USD",
        "timestamp": "2026-05-28T20:26:41Z",
    }
    assert api.post("/v1/costs", json=rest, scope="ingest").status_code in (200, 201)
    post(api, export(span(trace, signal_attrs("meeting_booked"), name="margin.signal", at=9)))
    sid = signal_id(api, trace, "meeting_booked")
    signal = api.get(f"/v1/signals/{sid}", scope="read").json()
    assert signal["attributed_cost"] == {"USD": "0.875"}
    assert signal["costs"] == 3
    view = api.get(f"/v1/traces/{trace}", scope="read").json()
    assert sorted(c["amount"] for c in view["costs"]) == ["0.125", "0.25", "0.5"]
    assert {c["signal_id"] for c in view["costs"]} == {sid}
    assert sorted(c["source"] for c in view["costs"]) == ["api", "otlp", "otlp"]
    listed = api.get("/v1/costs", params={"trace_id": trace}, scope="read").json()["data"]
    assert sorted(c["amount"] for c in listed) == ["0.125", "0.25", "0.5"]
    elsewhere = api.get("/v1/costs", params={"trace_id": other}, scope="read").json()["data"]
    assert [c["amount"] for c in elsewhere] == ["7"]
