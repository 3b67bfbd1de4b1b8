"""The real SDK against a real server: AI-call spans priced and attributed to the trace's
cost-tracing signal exactly, across processes, with flagged traces, and through an outage."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from opentelemetry import trace as trace_api
from sqlalchemy import func, select

import margin
from margin.sdk.dead_letters import DeadLetters
from margin.sdk.spool import Spool, destination
from margin.store.db import Database
from margin.store.keys import create_key, create_org
from margin.store.schema import costs, signals, spans

if TYPE_CHECKING:  # the fixture's type; conftest modules are not importable by name here
    from conftest import LiveServer

pytestmark = pytest.mark.slow

# gpt-4o: input $2.50/M (cache reads $1.25/M), output $10/M.
CALLS = [
    ({"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200}, Decimal("0.0045")),
    (
        {
            "gen_ai.usage.input_tokens": 3000,
            "gen_ai.usage.cache_read.input_tokens": 2000,
            "gen_ai.usage.output_tokens": 500,
        },
        Decimal("0.01"),
    ),
    ({"gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 50}, Decimal("0.00175")),
]


def ai_call(usage: dict[str, int], response_id: str) -> None:
    """One AI call as any OpenTelemetry GenAI instrumentation records it."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.id": response_id,
        **usage,
    }
    with trace_api.get_tracer("sdr-app").start_as_current_span(
        "chat gpt-4o", attributes=attributes
    ):
        pass


def configure(server: LiveServer, tmp_path: Path, **overrides: Any) -> None:
    settings: dict[str, Any] = {
        "export_interval": 0.05,
        "retry_backoff": 0.01,
        "max_attempts": 2,
        "timeout": 5.0,
    }
    assert margin.configure(
        api_key=server.keys["ingest"],
        base_url=server.url,
        spool_dir=tmp_path / "spool",
        **{**settings, **overrides},
    )


def read(server: LiveServer, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {server.keys['read']}"}
    response = httpx.get(f"{server.url}{path}", params=params, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def the_signal(server: LiveServer, event: str) -> dict[str, Any]:
    [found] = read(server, "/v1/signals", event_name=event)["data"]
    body: dict[str, Any] = read(server, f"/v1/signals/{found['id']}")
    return body


def test_sdr_workflow_attributes_the_exact_cost(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path
) -> None:
    configure(live_server, tmp_path)
    with margin.trace("acme", "sdr"):
        for i, (usage, _price) in enumerate(CALLS):
            ai_call(usage, f"chatcmpl-{i}")
        margin.signal("meeting_booked", {"lead": 7}, cost_tracing=True)
    assert margin.flush(timeout=30)
    body = the_signal(live_server, "meeting_booked")
    assert body["attributed_cost"] == {"USD": str(sum(p for _u, p in CALLS))}
    assert body["attributed_cost"] == {"USD": "0.01625"}
    assert body["costs"] == 3
    assert body["data"] == {"lead": 7}
    trace = read(live_server, f"/v1/traces/{body['trace_id']}")
    assert {c["priced_by"] for c in trace["costs"]} == {"catalog"}
    assert trace["attribution"]["flagged"] is False


def test_one_trace_across_two_processes(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path
) -> None:
    token = margin.new_trace_token()
    worker = textwrap.dedent(
        f"""
        import margin
        from opentelemetry import trace
        margin.configure(api_key={live_server.keys["ingest"]!r}, base_url={live_server.url!r},
                         spool_dir={str(tmp_path / "worker-spool")!r}, export_interval=0.05)
        attrs = {{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                 "gen_ai.request.model": "gpt-4o", "gen_ai.response.id": "worker-1",
                 **{CALLS[1][0]!r}}}
        with margin.trace("acme", "sdr", token={token!r}):
            with trace.get_tracer("worker").start_as_current_span("chat gpt-4o", attributes=attrs):
                pass
        assert margin.flush(timeout=30)
        margin.shutdown()
        """
    )
    subprocess.run([sys.executable, "-c", worker], check=True, timeout=120)
    configure(live_server, tmp_path)
    with margin.trace("acme", "sdr", token=token):
        ai_call(CALLS[0][0], "main-1")
        margin.signal("meeting_booked", cost_tracing=True)
    assert margin.flush(timeout=30)
    body = the_signal(live_server, "meeting_booked")
    assert body["trace_id"] == token
    assert body["attributed_cost"] == {"USD": str(CALLS[0][1] + CALLS[1][1])}
    assert body["costs"] == 2


def test_two_cost_tracing_signals_flag_and_count_once(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path
) -> None:
    configure(live_server, tmp_path)
    with margin.trace("acme", "sdr"):
        ai_call(CALLS[0][0], "a-1")
        margin.signal("reply_sent", cost_tracing=True)
        ai_call(CALLS[2][0], "a-2")
        margin.signal("meeting_booked", cost_tracing=True)
    assert margin.flush(timeout=30)
    first = the_signal(live_server, "reply_sent")
    second = the_signal(live_server, "meeting_booked")
    trace = read(live_server, f"/v1/traces/{first['trace_id']}")
    assert trace["attribution"]["flagged"] is True
    assert trace["attribution"]["signal_id"] == first["id"]
    total = Decimal(trace["attribution"]["cost_total"]["USD"])
    assert total == CALLS[0][1] + CALLS[2][1]
    attributed = [Decimal(s["attributed_cost"].get("USD", "0")) for s in (first, second)]
    assert sum(attributed) == total
    flagged = read(live_server, "/v1/traces", flagged="true")["data"]
    assert [t["trace_id"] for t in flagged] == [first["trace_id"]]


def test_outage_loses_nothing_and_duplicates_nothing(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path
) -> None:
    configure(live_server, tmp_path)
    live_server.stop()
    traces, per_trace = 50, 100
    for t in range(traces):
        with margin.trace(f"cus-{t % 5}", "sdr"):
            for i in range(per_trace):
                ai_call(CALLS[i % 3][0], f"resp-{t}-{i}")
            margin.signal("meeting_booked", {"t": t}, cost_tracing=True)
    assert not margin.flush(timeout=3)
    live_server.start()
    assert margin.flush(timeout=120)
    margin.shutdown()
    stats = margin.delivery_stats()
    assert stats["dropped"] == 0
    db = Database(live_server.database_url)
    with db.read() as conn:
        org = live_server.org_id
        n_costs = conn.execute(select(func.count()).where(costs.c.org_id == org)).scalar()
        n_signals = conn.execute(select(func.count()).where(signals.c.org_id == org)).scalar()
        n_spans = conn.execute(select(func.count()).where(spans.c.org_id == org)).scalar()
        linked = conn.execute(
            select(func.count()).where(costs.c.org_id == org, costs.c.signal_id.is_not(None))
        ).scalar()
    db.dispose()
    assert n_costs == traces * per_trace
    assert linked == traces * per_trace
    assert n_signals == traces
    # Every AI-call span, every signal span and each trace's root span, once.
    assert n_spans == traces * (per_trace + 2)


def test_batches_too_large_for_the_server_arrive_in_halves(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path
) -> None:
    """A server refusing bodies over its size limit (413) gets each refused batch again in
    halves until every part fits: every span and signal is stored once. A signal too large
    on its own is set aside in the dead-letter file, and the rest of its batch delivered."""
    live_server.stop()
    live_server.max_body_bytes = 24_000
    live_server.start()
    configure(live_server, tmp_path)
    calls, signal_count = 120, 200
    with margin.trace("cus-1", "sdr"):
        for i in range(calls):  # ~200 KB of spans once decompressed
            attributes: dict[str, Any] = {"padding": f"{i:04d}" + "x" * 1500}
            trace_api.get_tracer("sdr-app").start_span("step", attributes=attributes).end()
        for i in range(signal_count):  # ~1 KB each: ~200 KB a batch
            margin.signal("email_sent", {"n": i, "body": "y" * 1000}, customer="cus-1")
        margin.signal("huge", {"body": "z" * 40_000}, customer="cus-1")
    assert margin.flush(timeout=60)
    margin.shutdown()
    stats = margin.delivery_stats()
    assert stats["dead_lettered"] == 1
    assert stats["rejected"] == stats["dropped"] == 0
    assert stats["exported"] == calls + 1 + signal_count  # the steps, the trace's root, signals
    db = Database(live_server.database_url)
    with db.read() as conn:
        org = live_server.org_id
        names = conn.execute(select(signals.c.event_name).where(signals.c.org_id == org)).all()
        n_spans = conn.execute(
            select(func.count()).where(spans.c.org_id == org, spans.c.name == "step")
        ).scalar()
    db.dispose()
    assert sorted(name for (name,) in names) == ["email_sent"] * signal_count
    assert n_spans == calls
    [dead] = DeadLetters(tmp_path / "spool").read()
    assert (dead["kind"], dead["items"]) == ("signals", 1)
    assert str(dead["reason"]).startswith("server answered 413")


def test_a_spooled_batch_of_more_signals_than_a_request_takes_is_replayed_in_halves(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path
) -> None:
    """Signals spooled through an outage as one batch larger than the server takes in one
    request (``MARGIN_MAX_BATCH_ITEMS``, 10,000) are all stored once when it is back."""
    live_server.stop()
    # Sent only when the queue holds the whole batch, however long the calls take.
    configure(live_server, tmp_path, max_batch=12_000, max_queue=20_000, export_interval=60.0)
    count = 12_000
    for i in range(count):
        margin.signal("email_sent", {"n": i}, customer="cus-1")
    assert not margin.flush(timeout=3)
    spool = Spool(destination(tmp_path / "spool", live_server.url, live_server.keys["ingest"]))
    assert [f.count for f in spool.files()] == [count]
    live_server.start()
    assert margin.flush(timeout=120)
    margin.shutdown()
    stats = margin.delivery_stats()
    assert stats["exported"] == count
    assert stats["rejected"] == stats["dropped"] == stats["dead_lettered"] == 0
    db = Database(live_server.database_url)
    with db.read() as conn:
        org = live_server.org_id
        stored = conn.execute(select(func.count()).where(signals.c.org_id == org)).scalar()
    db.dispose()
    assert stored == count


def _costs_of(server: LiveServer, org_id: str) -> list[str]:
    db = Database(server.database_url)
    with db.read() as conn:
        rows = conn.execute(select(costs.c.response_id).where(costs.c.org_id == org_id))
        stored = sorted(row[0] for row in rows)
    db.dispose()
    return stored


def test_costs_sent_with_a_refused_key_wait_in_that_keys_spool(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path
) -> None:
    """The server answers 401 to an unknown key and 403 to a key without the ingest scope:
    the spans are kept in the spool under the key they were sent with, not lost. A process
    with another key does not replay them (it could be another organization's); moved into
    its key's directory, as the documentation says, they are delivered once."""
    root = tmp_path / "spool"
    for n, wrong in enumerate(("mk_not_a_key", live_server.keys["read"])):
        assert margin.configure(
            api_key=wrong, base_url=live_server.url, spool_dir=root, export_interval=0.05,
            retry_backoff=0.01,
        )  # fmt: skip
        with margin.trace("acme", "sdr"):
            ai_call(CALLS[n][0], f"resp-refused-{n}")
        assert not margin.flush(timeout=1)
        stats = margin.delivery_stats()
        assert (stats["spooled"], stats["rejected"], stats["dropped"], stats["exported"]) == (
            2, 0, 0, 0
        )  # fmt: skip
        margin.shutdown(timeout=0.2)  # configure would flush for 5 s more, in vain
    configure(live_server, tmp_path)
    assert margin.flush(timeout=30)
    assert _costs_of(live_server, live_server.org_id) == []
    mine = destination(root, live_server.url, live_server.keys["ingest"])
    mine.mkdir(parents=True, exist_ok=True)
    for wrong in ("mk_not_a_key", live_server.keys["read"]):
        for batch in destination(root, live_server.url, wrong).glob("*.batch"):
            batch.rename(mine / batch.name)
    assert margin.flush(timeout=30)
    assert margin.delivery_stats()["replayed"] == 4
    assert _costs_of(live_server, live_server.org_id) == ["resp-refused-0", "resp-refused-1"]


def test_a_shared_spool_never_delivers_one_organizations_costs_with_anothers_key(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path
) -> None:
    """Two applications of two organizations share the default spool directory of their
    user. What one spooled through an outage is replayed by itself, into its organization;
    the other, started meanwhile, leaves it alone."""
    db = Database(live_server.database_url)
    with db.write() as conn:
        other_org = create_org(conn, "other")
        _key, other_key = create_key(conn, other_org, "ingest")
    db.dispose()
    live_server.stop()
    configure(live_server, tmp_path)
    with margin.trace("acme", "sdr"):
        ai_call(CALLS[0][0], "resp-first-org")
    assert not margin.flush(timeout=1)
    margin.shutdown(timeout=0.2)
    live_server.start()
    assert margin.configure(
        api_key=other_key, base_url=live_server.url, spool_dir=tmp_path / "spool",
        export_interval=0.05, retry_backoff=0.01,
    )  # fmt: skip
    assert margin.flush(timeout=30)
    assert margin.delivery_stats()["replayed"] == 0
    assert _costs_of(live_server, other_org) == []
    configure(live_server, tmp_path)  # the first application again
    assert margin.flush(timeout=30)
    assert _costs_of(live_server, live_server.org_id) == ["resp-first-org"]
    assert _costs_of(live_server, other_org) == []


def test_signals_the_server_refuses_are_kept_with_its_reason(
    live_server: LiveServer, sdk_reset: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A signal the server refuses (a unit the customer does not have) is counted rejected
    and written to the dead-letter file on its own, with the server's reason, ready to be
    sent again; the signals beside it are stored. A batch refused whole (422) likewise."""
    configure(live_server, tmp_path, export_interval=60)
    margin.signal("meeting_booked", {"n": 1}, customer="acme")
    lost = margin.signal("meeting_booked", {"n": 2}, customer="acme", unit="no-such-unit")
    margin.signal("meeting_booked", {"n": 3}, customer="acme")
    assert margin.flush(timeout=30)
    margin.signal("demo_held", customer="acme", unit="no-such-unit")
    margin.signal("demo_held", customer="acme", unit="nor-this-one")
    assert margin.flush(timeout=30)
    stats = margin.delivery_stats()
    assert (stats["exported"], stats["rejected"], stats["dropped"]) == (2, 3, 0)
    stored = read(live_server, "/v1/signals", event_name="meeting_booked")["data"]
    assert sorted(s["data"]["n"] for s in stored) == [1, 3]
    letters = DeadLetters(tmp_path / "spool").read()
    assert [(x["kind"], x["items"]) for x in letters] == [("signals", 1)] * 3
    items = [item for x in letters for item in json.loads(str(x["body"]))["items"]]
    assert items[0]["idempotency_key"] == lost
    assert [item["unit"] for item in items] == ["no-such-unit", "no-such-unit", "nor-this-one"]
    assert all("unit" in str(x["reason"]) and "has no unit" in str(x["reason"]) for x in letters)
    # Once per kind of answer (signals named as failed in a 200, a batch refused with 422),
    # however many follow.
    margin.signal("demo_held", customer="acme", unit="no-such-unit")
    margin.signal("demo_held", customer="acme", unit="nor-this-one")
    assert margin.flush(timeout=30)
    assert margin.delivery_stats()["rejected"] == 5
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2
    assert [m.split(" item(s)")[0] for m in refused] == [
        "margin: the server refused 1 signals",
        "margin: the server refused 2 signals",
    ]
    assert all(m.endswith(f"kept in {tmp_path / 'spool' / 'dead-letters.jsonl'}") for m in refused)
