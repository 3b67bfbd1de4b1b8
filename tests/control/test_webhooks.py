"""Webhooks: Standard Webhooks signatures, at-least-once delivery with backoff from the
outbox, the delivery log, replay, rotation and disabling, against a real receiver."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from control_support import customer, ok, set_clock, signals
from receiver import Receiver
from standardwebhooks.webhooks import Webhook

from margin._time import now_micros, parse_bound
from margin.control.alerts import evaluate
from margin.control.delivery import Sender
from margin_testing import Api

HOUR = 3600 * 1_000_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=3)
    yield r
    r.close()


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _events(api: Api, url: str) -> str:
    """An endpoint, then two events: credits spent (at ingest) and an alert on them."""
    secret = ok(api.post("/v1/webhooks/endpoints", json={"url": url}), 201)["secret"]
    set_clock(api, "2026-10-15T12:00:00+00:00")
    acme = customer(api)
    ok(
        api.post(
            "/v1/features",
            json={
                "key": "meetings",
                "backed_by": "signals",
                "event_name": "meeting_booked",
                "credit_currency": "meetings",
            },
        ),
        201,
    )
    grant = {"currency": "meetings", "amount": "2", "effective_at": "2026-10-01T00:00:00Z"}
    ok(api.post(f"/v1/customers/{acme}/credits/grants", json=grant), 201)
    ok(
        api.post(
            "/v1/alerts/rules",
            json={
                "name": "low",
                "metric": "balance",
                "credit_currency": "meetings",
                "direction": "below",
                "thresholds": ["50%"],
            },
        ),
        201,
    )
    signals(api, "meeting_booked", 3, "2026-10-14T08:00:00Z")
    return str(secret)


def test_failed_deliveries_are_retried_and_each_event_arrives_once(
    api: Api, receiver: Receiver
) -> None:
    secret = _events(api, receiver.url)
    checked_at = api.client.app.state.margin.clock()  # type: ignore[attr-defined]
    assert evaluate(api.db, checked_at) == 1
    assert evaluate(api.db, checked_at) == 0, ok(api.get("/v1/alerts"))  # fires once
    # Ingest stamps its outbox rows with the real time: the sender's clock starts there.
    clock = Clock(now_micros())
    sender = Sender(api.db, clock=clock)
    try:
        attempts = 0
        for _ in range(8):
            attempts += sender.run_once()
            clock.now += HOUR  # past every backoff step up to two hours
    finally:
        sender.close()
    assert [r.status for r in receiver.log] == [500, 500, 500, 204, 204]
    assert attempts == 5
    got = [(r.headers["webhook-id"], json.loads(r.body)["type"]) for r in receiver.delivered()]
    assert sorted(t for _id, t in got) == ["alert.triggered", "entitlement.exhausted"]
    assert len({i for i, _t in got}) == 2
    verifier = Webhook(secret)
    for r in receiver.log:  # every attempt is signed, and verifies with the reference code
        payload = verifier.verify(r.body, r.headers)
        assert payload["data"]
    log = ok(api.get("/v1/webhooks/deliveries"))["data"]
    assert Counter(d["status"] for d in log) == {"delivered": 2}
    assert sorted(len(d["log"]) for d in log) == [2, 3]
    assert all(d["log"][-1]["status_code"] == 204 for d in log)
    # A manual replay sends a delivered message again, with the same id.
    ok_ = api.post(f"/v1/webhooks/deliveries/{log[0]['id']}/replay")
    assert ok_.status_code == 202
    queued = ok_.json()
    assert (queued["id"], queued["status"]) == (log[0]["id"], "pending")
    assert parse_bound(queued["next_attempt_at"], "next_attempt_at") <= now_micros()
    sender = Sender(api.db, clock=clock)
    assert sender.run_once() == 1
    sender.close()
    assert receiver.log[-1].headers["webhook-id"] == log[0]["message_id"]


def test_rotation_signs_with_both_secrets_and_failing_endpoints_are_disabled(
    api: Api,
) -> None:
    receiver = Receiver(always_fail=True)
    try:
        old = _events(api, receiver.url)
        (endpoint,) = ok(api.get("/v1/webhooks/endpoints"))["data"]
        api.client.app.state.margin.clock = now_micros  # type: ignore[attr-defined]
        new = ok(api.post(f"/v1/webhooks/endpoints/{endpoint['id']}/rotate"))["secret"]
        clock = Clock(now_micros())
        sender = Sender(api.db, clock=clock, disable_after=3)
        for _ in range(4):
            sender.run_once()
            clock.now += HOUR
        sender.close()
        assert len(receiver.log) == 3  # the third failure in a row disabled it
        for secret in (old, new):
            Webhook(secret).verify(receiver.log[0].body, receiver.log[0].headers)
        (endpoint,) = ok(api.get("/v1/webhooks/endpoints"))["data"]
        assert (endpoint["enabled"], endpoint["disabled_reason"]) == (
            False,
            "3 failed attempts in a row",
        )
    finally:
        receiver.close()


def test_bad_endpoints_are_refused_by_field(api: Api) -> None:
    for body, field in [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://example.com/x", "event_types": ["nope"]}, "event_types"),
        ({"url": "http://example.com/x", "event_types": []}, "event_types"),
    ]:
        answer = api.post("/v1/webhooks/endpoints", json=body)
        assert (answer.status_code, answer.json()["field"]) == (422, field), answer.text
    assert api.post("/v1/webhooks/endpoints/whe_nope/rotate").status_code == 404
    assert api.post("/v1/webhooks/deliveries/whd_nope/replay").status_code == 404
