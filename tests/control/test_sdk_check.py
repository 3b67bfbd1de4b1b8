"""The SDK's check against a real server on 127.0.0.1: answers, the cache and what it hides,
the guard on ``margin.trace``, and the fail-open / fail-closed policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from control_support import at, customer, ok, signals

import margin
from margin.sdk.entitlements import Checker
from margin.server.app import create_app
from margin_testing import Api, free_port
from server.loopback import serve


class Tick:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(api: Api) -> Iterator[str]:
    app = create_app(api.settings, db=api.db, migrate=False)
    now = at("2026-10-15T12:00:00+00:00")
    app.state.margin.clock = lambda: now
    with serve(app) as base:
        yield base


def test_check_cache_and_guard(api: Api, url: str) -> None:
    ok(
        api.post(
            "/v1/features",
            json={"key": "meetings", "backed_by": "signals", "event_name": "meeting_booked"},
        ),
        201,
    )
    ok(
        api.put(
            f"/v1/customers/{customer(api, 'acme')}/entitlements",
            json={"feature": "meetings", "limit": 3, "period": "day"},
        )
    )
    tick = Tick()
    checker = Checker(api.tenant.keys["read"], url, ttl=5, timeout=10, clock=tick)
    first = checker.check("acme", "meetings")
    assert (first.has_access, first.usage, first.limit, first.source) == (True, "0", "3", "server")
    assert first.resets_at == "2026-10-16T00:00:00Z"
    signals(api, "meeting_booked", 3, "2026-10-15T09:00:00Z")
    cached = checker.check("acme", "meetings")
    assert (cached.has_access, cached.usage, cached.cached) == (True, "0", True)  # as documented
    tick.now += 5
    fresh = checker.check("acme", "meetings")
    assert (fresh.has_access, fresh.usage, fresh.source) == (False, "3", "server")
    unknown = checker.check("nobody", "meetings")
    assert (unknown.has_access, unknown.source) == (False, "server")
    checker.close()

    margin.configure_checks(api_key=api.tenant.keys["read"], base_url=url, ttl=0, timeout=10)
    ran = []
    try:
        with (
            pytest.raises(margin.EntitlementExceeded) as raised,
            margin.trace("acme", "sdr", require="meetings"),
        ):
            ran.append(1)
        assert raised.value.check.usage == "3"
        assert ran == []

        @margin.trace("acme", require="meetings")
        def work() -> int:
            return 1

        with pytest.raises(margin.EntitlementExceeded):
            work()
        assert margin.check("acme", "meetings").has_access is False
    finally:
        margin.configure_checks(ttl=0).close()


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_an_unreachable_server_follows_the_policy(policy: str) -> None:
    checker = Checker("key", f"http://127.0.0.1:{free_port()}", timeout=0.2, on_error=policy)  # type: ignore[arg-type]
    answer = checker.check("acme", "meetings")
    assert (answer.has_access, answer.source) == (policy == "open", f"fail_{policy}")
    checker.close()
