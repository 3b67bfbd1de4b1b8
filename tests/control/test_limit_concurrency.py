"""A hard limit under 50 concurrent agents through a real server, 5 units below it: each
checks, then records one unit of work if allowed. Checks read committed state and are not a
reservation, so the overshoot is bounded by the agents in flight (documented: at most
concurrency − 1 units of work past the limit), and once usage is committed every check denies."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import httpx
import pytest
from control_support import at, customer, ok, set_clock, signals

from margin.server.app import create_app
from margin_testing import Api
from server.loopback import serve

AGENTS = 50
LIMIT = 20


@pytest.fixture
def url(api: Api) -> Iterator[str]:
    app = create_app(api.settings, db=api.db, migrate=False)
    now = at("2026-10-15T12:00:00+00:00")
    app.state.margin.clock = lambda: now
    with serve(app) as base:
        yield base


def test_hard_limit_overshoot_is_bounded_by_agents_in_flight(api: Api, url: str) -> None:
    set_clock(api, "2026-10-15T12:00:00+00:00")
    acme = customer(api)
    ok(
        api.post(
            "/v1/features",
            json={"key": "meetings", "backed_by": "signals", "event_name": "meeting_booked"},
        ),
        201,
    )
    ok(
        api.put(
            f"/v1/customers/{acme}/entitlements",
            json={"feature": "meetings", "limit": LIMIT, "period": "day"},
        )
    )
    signals(api, "meeting_booked", LIMIT - 5, "2026-10-15T09:00:00Z")
    keys = itertools.count()
    start = threading.Barrier(AGENTS)
    done: list[int] = []

    client = httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=AGENTS))

    def agent() -> None:
        read = {"Authorization": f"Bearer {api.tenant.keys['read']}"}
        ingest = {"Authorization": f"Bearer {api.tenant.keys['ingest']}"}
        start.wait()
        worked = 0
        answer = client.get(f"/v1/customers/{acme}/entitlements/meetings", headers=read)
        if answer.json()["has_access"]:
            item = {
                "event_name": "meeting_booked",
                "customer": "acme",
                "timestamp": "2026-10-15T10:00:00Z",
                "idempotency_key": f"k{next(keys)}",
            }
            assert client.post("/v1/signals", json=item, headers=ingest).status_code == 201
            worked += 1
        done.append(worked)

    threads = [threading.Thread(target=agent) for _ in range(AGENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    final = ok(api.get(f"/v1/customers/{acme}/entitlements/meetings"))
    usage = int(final["usage"])
    assert usage == LIMIT - 5 + sum(done)
    assert LIMIT <= usage <= LIMIT + AGENTS - 1
    assert final["has_access"] is False
