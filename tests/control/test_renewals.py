"""Expiry, renewal and rollover of grants at local period boundaries across DST changes."""

from __future__ import annotations

from decimal import Decimal

from control_support import at

from margin._time import isoformat
from margin.control.credits import balances, burn, history
from margin.control.grants import GrantIn, create_grant, list_grants
from margin.control.renewals import expire_due
from margin.control.units import UnitIn, upsert_unit
from margin.store.db import Database
from margin.store.directory import CUSTOMERS
from margin_testing import Tenant

N = 1_000_000_000


def test_monthly_grant_rolls_over_at_paris_midnights_across_dst(
    db: Database, tenant: Tenant
) -> None:
    org = tenant.org_id
    with db.write() as conn:
        acme = CUSTOMERS.resolve(conn, org, ["acme"], create=True)["acme"]
        body = GrantIn(
            currency="meetings",
            amount="10",
            recurrence="month",
            rollover_max="3",
            time_zone="Europe/Paris",
            effective_at="2026-10-01T00:00:00+02:00",
        )
        first = create_grant(conn, org, acme, body, at("2026-10-01T08:00:00+00:00"))
    # October in Paris: from its local midnight (summer time) to November's (winter time).
    assert (isoformat(first["effective_at"]), isoformat(first["expires_at"])) == (
        "2026-09-30T22:00:00Z",
        "2026-10-31T23:00:00Z",
    )
    with db.write() as conn:
        assert burn(conn, org, acme, "meetings", 6 * N, at("2026-10-20T10:00:00+00:00")) == 4 * N
        # One microsecond before the boundary nothing expires; at it, October's grant does.
        assert expire_due(conn, at("2026-10-31T22:59:59.999999+00:00")) == 0
        assert expire_due(conn, at("2026-10-31T23:00:00+00:00")) == 1
        (balance,) = balances(conn, org, acme, at("2026-11-02T00:00:00+00:00"))
        assert balance["balance_nanos"] == 13 * N  # 10 new + 3 of the 4 left carried
        assert burn(conn, org, acme, "meetings", 12 * N, at("2026-11-10T00:00:00+00:00")) == N
    with db.write() as conn:  # a store not swept since catches up month by month
        assert expire_due(conn, at("2027-04-15T00:00:00+00:00")) == 5
        grants = list_grants(conn, org, acme)
        rows = history(conn, org, acme, "meetings")
    spans = [(isoformat(g["effective_at"]), isoformat(g["expires_at"])) for g in grants]
    assert spans[-2:] == [
        ("2027-02-28T23:00:00Z", "2027-03-31T22:00:00Z"),  # Paris springs forward March 28
        ("2027-03-31T22:00:00Z", "2027-04-30T22:00:00Z"),
    ]
    # What expired is gone (a ledger row each); only April's grant holds credits.
    assert [g["remaining_nanos"] for g in grants] == [0, 0, 0, 0, 0, 0, 13 * N]
    assert [g["amount_nanos"] for g in grants] == [10 * N] * 7
    carried = [Decimal(r["delta"]) for r in rows if r["cause"] == "rollover"]
    assert carried == [3, 1, 3, 3, 3, 3]
    assert sum(Decimal(r["delta"]) for r in rows) == 13


def test_a_units_recurring_grant_renews_for_the_unit_and_settles_no_overage(
    db: Database, tenant: Tenant
) -> None:
    org = tenant.org_id
    with db.write() as conn:
        acme = CUSTOMERS.resolve(conn, org, ["acme"], create=True)["acme"]
        unit, _ = upsert_unit(conn, org, acme, UnitIn(external_id="team-a"), 0)
        body = GrantIn(
            currency="meetings",
            amount="5",
            recurrence="month",
            rollover_max="2",
            effective_at="2026-10-01T00:00:00Z",
        )
        create_grant(conn, org, acme, body, at("2026-10-01T00:00:00+00:00"), unit["id"])
        # The customer owes 4 (its own usage, no grant of its own): a unit's grant pays none.
        assert burn(conn, org, acme, "meetings", 4 * N, at("2026-10-02T00:00:00+00:00")) == -4 * N
        # The unit's usage: its 5, then 1 more owed by the customer.
        when = at("2026-10-03T00:00:00+00:00")
        assert burn(conn, org, acme, "meetings", 6 * N, when, unit_id=unit["id"]) == -5 * N
    with db.write() as conn:
        assert expire_due(conn, at("2026-11-01T00:00:00+00:00")) == 1
        renewed = list_grants(conn, org, acme, unit["id"])[-1]
        now = at("2026-11-02T00:00:00+00:00")
        (unit_balance,) = balances(conn, org, acme, now, unit["id"])
        (own,) = balances(conn, org, acme, now)
        rows = history(conn, org, acme, "meetings", unit_id=unit["id"])
    assert (renewed["unit_id"], renewed["remaining_nanos"]) == (unit["id"], 5 * N)
    assert (unit_balance["balance_nanos"], own["balance_nanos"]) == (5 * N, -5 * N)
    assert [(r["cause"], r["delta"]) for r in rows] == [
        ("grant", "5"),
        ("usage", "-5"),
        ("usage", "-1"),  # the customer's overage, caused by the unit
        ("renewal", "5"),  # the expiry took nothing: the unit had spent it all
    ]
