"""A renewal never overflows a 64-bit row, and one grant or step that fails does not stop
the control worker for every organization."""

from __future__ import annotations

import logging

import pytest
from control_support import at, customer, ok

from margin._payload import MAX_INT
from margin.control.credits import history, insert_grant
from margin.control.grants import list_grants
from margin.control.outbox import EndpointIn, create_endpoint, emit
from margin.control.quantities import render_quantity
from margin.control.renewals import expire_due
from margin.control.worker import ControlWorker
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin.store.schema_control import alert_rules
from margin_testing import Api, Tenant, make_tenant

N = 1_000_000_000
START = at("2026-10-13T00:00:00+00:00")
END = at("2026-10-14T00:00:00+00:00")


def test_a_grant_whose_renewal_could_overflow_is_refused(api: Api) -> None:
    cid = customer(api)
    body = {
        "currency": "meetings",
        "amount": "9000000000",
        "recurrence": "day",
        "rollover_max": "9000000000",
        "effective_at": "2026-10-13T00:00:00Z",
    }
    answer = api.post(f"/v1/customers/{cid}/credits/grants", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "rollover_max"
    assert ok(api.get(f"/v1/customers/{cid}/credits/grants")) == {"data": []}
    # Without rollover, the same amount renews as it is.
    ok(api.post(f"/v1/customers/{cid}/credits/grants", json={**body, "rollover_max": "0"}), 201)


def _grant(db: Database, org: str, amount: int, rollover: int, zone: str = "UTC") -> str:
    """A recurring grant stored as it is (as one stored before the checks of create_grant)."""
    fields = {
        "priority": 10,
        "effective_at": START,
        "expires_at": END,
        "rollover_max_nanos": rollover,
        "recurrence": "day",
        "time_zone": zone,
        "description": None,
        "unit_id": "",
    }
    with db.write() as conn:
        cid = CUSTOMERS.resolve(conn, org, ["acme"], create=True)["acme"]
        insert_grant(conn, org, cid, "meetings", amount, START, fields)
    return str(cid)


def test_a_renewal_carries_no_more_than_a_row_holds(db: Database, tenant: Tenant) -> None:
    amount = 9_000_000_000 * N
    cid = _grant(db, tenant.org_id, amount, amount)
    with db.write() as conn:
        assert expire_due(conn, END) == 1
        renewed = list_grants(conn, tenant.org_id, cid)[-1]
        rows = history(conn, tenant.org_id, cid, "meetings")
    assert (renewed["amount_nanos"], renewed["remaining_nanos"]) == (amount, MAX_INT)
    carried = [r["delta"] for r in rows if r["cause"] == "rollover" and r["delta"] != "0"]
    assert carried == [render_quantity(MAX_INT - amount)]


def test_a_failing_grant_does_not_stop_the_sweep(
    db: Database, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _grant(db, tenant.org_id, 5 * N, 0, zone="Nowhere/Atlantis")
    other = make_tenant(db, "other")
    sound = _grant(db, other.org_id, 5 * N, 0)
    worker = ControlWorker(db, clock=lambda: END + 1)
    with caplog.at_level(logging.ERROR, logger="margin.control"):
        worker.tick()
        worker.tick()  # the broken grant fails again; the rest still went on
    with db.read() as conn:
        (left,) = list_grants(conn, tenant.org_id, broken)
        renewed = list_grants(conn, other.org_id, sound)
    assert (left["closed_at"], left["remaining_nanos"]) == (None, 5 * N)
    assert [g["closed_at"] for g in renewed] == [END, None]
    assert any(left["id"] in r.getMessage() for r in caplog.records)


def test_a_failing_step_does_not_stop_the_others(
    db: Database, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    org = tenant.org_id
    with db.write() as conn:
        rule = {
            "id": "alr_broken",
            "org_id": org,
            "name": "broken",
            "metric": "ai_cost",
            "customer_id": None,
            "agent_id": None,
            "params": {"per": "organization", "currency": "USD"},
            "period": "month",
            "time_zone": "Nowhere/Atlantis",
            "direction": "above",
            "thresholds": ["1"],
            "enabled": True,
            "created_at": START,
        }
        conn.execute(alert_rules.insert().values(**rule))
        create_endpoint(conn, org, EndpointIn(url="http://127.0.0.1:9/hook"), START)
        assert emit(conn, org, "credits.low", {}, START) is not None
    cid = _grant(db, org, 5 * N, 0)
    worker = ControlWorker(db, clock=lambda: END + 1)
    try:
        with caplog.at_level(logging.ERROR, logger="margin.control"):
            assert worker.tick() == 1  # the delivery was attempted after alerts failed
    finally:
        worker.stop()
    with db.read() as conn:
        assert [g["closed_at"] for g in list_grants(conn, org, cid)] == [END, None]
    assert any("alert" in r.getMessage() for r in caplog.records)
