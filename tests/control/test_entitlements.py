"""Entitlements and the check an agent makes: access, usage per local period, limits."""

from __future__ import annotations

from control_support import cost, customer, ok, set_clock, signals

from margin_testing import Api


def _feature(api: Api, **body: object) -> None:
    ok(api.post("/v1/features", json=body), 201)


def test_metered_limit_per_local_month_with_reset(api: Api) -> None:
    set_clock(api, "2026-10-15T12:00:00+00:00")
    acme = customer(api)
    _feature(api, key="meetings", backed_by="signals", event_name="meeting_booked")
    ent = {
        "feature": "meetings",
        "kind": "metered",
        "limit": 5,
        "period": "month",
        "time_zone": "Europe/Paris",
    }
    assert ok(api.put(f"/v1/customers/{acme}/entitlements", json=ent))["limit"] == "5"
    signals(api, "meeting_booked", 3, "2026-10-02T08:00:00Z")
    signals(api, "meeting_booked", 4, "2026-09-30T21:00:00Z")  # 23:00 in Paris: September
    url = f"/v1/customers/{acme}/entitlements/meetings"
    answer = ok(api.get(url, scope="read"))
    assert answer == {
        "feature": "meetings",
        "has_access": True,
        "kind": "metered",
        "hard": True,
        "config": {},
        "balance": None,
        "credit_currency": None,
        "usage": "3",
        "limit": "5",
        "overage": "0",
        "period_start": "2026-09-30T22:00:00Z",
        # Paris left summer time on October 25: November starts at 23:00 UTC.
        "resets_at": "2026-10-31T23:00:00Z",
    }
    signals(api, "meeting_booked", 3, "2026-10-14T08:00:00Z")
    answer = ok(api.get("/v1/customers/external/acme/entitlements/meetings", scope="read"))
    assert (answer["has_access"], answer["usage"], answer["overage"]) == (False, "6", "1")
    # A soft limit reports the overage but lets the work go on.
    ok(api.put(f"/v1/customers/{acme}/entitlements", json={**ent, "hard": False}))
    answer = ok(api.get(url, scope="read"))
    assert (answer["has_access"], answer["overage"]) == (True, "1")
    # Usage resets at the boundary.
    set_clock(api, "2026-10-31T23:00:00+00:00")
    answer = ok(api.get(url, scope="read"))
    assert (answer["has_access"], answer["usage"], answer["resets_at"]) == (
        True,
        "0",
        "2026-11-30T23:00:00Z",
    )


def test_ai_cost_limit_and_credit_balance(api: Api) -> None:
    set_clock(api, "2026-10-10T12:00:00+00:00")
    acme = customer(api)
    _feature(api, key="ai", backed_by="ai_cost", currency="USD", credit_currency="USD")
    ent = {"feature": "ai", "limit": "1.50", "period": "day"}
    ok(api.put(f"/v1/customers/{acme}/entitlements", json=ent))
    grant = {"currency": "USD", "amount": "2", "effective_at": "2026-10-01T00:00:00Z"}
    ok(api.post(f"/v1/customers/{acme}/credits/grants", json=grant), 201)
    cost(api, "0.75", "2026-10-10T01:00:00Z")
    cost(api, "0.70", "2026-10-09T23:59:00Z")  # yesterday: not in today's usage
    answer = ok(api.get(f"/v1/customers/{acme}/entitlements/ai"))
    assert (answer["has_access"], answer["usage"], answer["balance"]) == (True, "0.75", "0.55")
    cost(api, "0.55", "2026-10-10T02:00:00Z")  # the balance is spent (the limit is not)
    answer = ok(api.get(f"/v1/customers/{acme}/entitlements/ai"))
    assert (answer["has_access"], answer["usage"], answer["balance"]) == (False, "1.3", "0")


def test_boolean_static_missing_and_bad(api: Api) -> None:
    acme = customer(api)
    _feature(api, key="sso")
    _feature(api, key="seats")
    ok(api.put(f"/v1/customers/{acme}/entitlements", json={"feature": "sso", "kind": "boolean"}))
    ok(
        api.put(
            f"/v1/customers/{acme}/entitlements",
            json={"feature": "seats", "kind": "static", "config": {"seats": 10}},
        )
    )
    sso = ok(api.get(f"/v1/customers/{acme}/entitlements/sso"))
    assert (sso["has_access"], sso["kind"], sso["usage"]) == (True, "boolean", None)
    seats = ok(api.get(f"/v1/customers/{acme}/entitlements/seats"))
    assert seats["config"] == {"seats": 10}
    listed = ok(api.get(f"/v1/customers/{acme}/entitlements"))["data"]
    assert [e["feature"] for e in listed] == ["seats", "sso"]
    assert api.delete(f"/v1/customers/{acme}/entitlements/sso").status_code == 204
    assert ok(api.get(f"/v1/customers/{acme}/entitlements/sso"))["has_access"] is False
    missing = api.get(f"/v1/customers/{acme}/entitlements/nope")
    assert (missing.status_code, missing.json()["field"]) == (404, "feature")
    assert api.get("/v1/customers/cus_x/entitlements/sso").status_code == 404
    for body, field in [
        ({"feature": "sso", "kind": "metered"}, "kind"),
        ({"feature": "sso", "kind": "boolean", "limit": "3"}, "limit"),
        ({"feature": "nope"}, "feature"),
    ]:
        answer = api.put(f"/v1/customers/{acme}/entitlements", json=body)
        assert answer.json()["field"] == field, answer.text
    dup = api.post("/v1/features", json={"key": "sso"})
    assert (dup.status_code, dup.json()["field"]) == (409, "key")
    bad = api.post("/v1/features", json={"key": "x", "backed_by": "signals"})
    assert bad.status_code == 422


def test_a_plan_grants_its_entitlements_to_every_order_while_in_force(api: Api) -> None:
    set_clock(api, "2026-10-15T12:00:00+00:00")
    acme = customer(api)
    _feature(api, key="meetings", backed_by="signals", event_name="meeting_booked")
    _feature(api, key="sso", backed_by="none")
    plan = {
        "key": "sdr",
        "currency": "USD",
        "outcomes": [{"event_name": "meeting_booked", "price": "10"}],
        "entitlements": [
            {"feature": "meetings", "limit": "2", "period": "month"},
            {"feature": "sso", "kind": "static", "config": {"seats": 3}},
        ],
    }
    created = ok(api.post("/v1/plans", json=plan), 201)
    assert [e["feature"] for e in created["entitlements"]] == ["meetings", "sso"]
    url = f"/v1/customers/{acme}/entitlements/meetings"
    # No order yet: no access.
    assert ok(api.get(url, scope="read"))["has_access"] is False
    order = {"customer": "acme", "plan": "sdr", "starts_at": "2026-10-01", "ends_at": "2026-11-01"}
    ok(api.post("/v1/orders", json=order), 201)
    answer = ok(api.get(url, scope="read"))
    assert (answer["has_access"], answer["limit"], answer["usage"]) == (True, "2", "0")
    sso = ok(api.get(f"/v1/customers/{acme}/entitlements/sso", scope="read"))
    assert (sso["has_access"], sso["kind"], sso["config"]) == (True, "static", {"seats": 3})
    listed = ok(api.get(f"/v1/customers/{acme}/entitlements", scope="read"))["data"]
    assert [(e["feature"], e["source"], e["plan"]) for e in listed] == [
        ("meetings", "plan", "sdr"),
        ("sso", "plan", "sdr"),
    ]
    # The plan's limit is enforced like the customer's own.
    signals(api, "meeting_booked", 2, "2026-10-03T08:00:00Z")
    answer = ok(api.get(url, scope="read"))
    assert (answer["has_access"], answer["usage"]) == (False, "2")
    # The customer's own entitlement takes precedence over the plan's.
    own = {"feature": "meetings", "limit": "10", "period": "month"}
    ok(api.put(f"/v1/customers/{acme}/entitlements", json=own))
    answer = ok(api.get(url, scope="read"))
    assert (answer["has_access"], answer["limit"]) == (True, "10")
    listed = ok(api.get(f"/v1/customers/{acme}/entitlements", scope="read"))["data"]
    assert [(e["feature"], e["source"]) for e in listed] == [
        ("meetings", "customer"),
        ("sso", "plan"),
    ]
    # Once the order has ended, the plan grants nothing.
    set_clock(api, "2026-11-02T00:00:00+00:00")
    assert (
        ok(api.get(f"/v1/customers/{acme}/entitlements/sso", scope="read"))["has_access"] is False
    )


def test_a_plan_refuses_an_entitlement_it_cannot_grant(api: Api) -> None:
    _feature(api, key="sso", backed_by="none")
    base = {"key": "p", "currency": "USD"}
    cases = [
        ({"feature": "nope"}, "entitlements.0.feature"),
        ({"feature": "sso", "kind": "metered"}, "entitlements.0.kind"),
        ({"feature": "sso", "kind": "boolean", "limit": "3"}, "entitlements.0.limit"),
        (
            {"feature": "sso", "kind": "static", "time_zone": "Mars/Base"},
            "entitlements.0.time_zone",
        ),
    ]
    acme = customer(api)
    for entitlement, field in cases:
        answer = api.post("/v1/plans", json={**base, "entitlements": [entitlement]})
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
        # The same bad entitlement given to a customer: the same problem, unprefixed.
        own = api.put(f"/v1/customers/{acme}/entitlements", json=entitlement)
        assert own.status_code == 422, own.text
        prefix = "entitlements.0."
        assert own.json()["field"] == field.removeprefix(prefix)
        assert own.json()["detail"] == answer.json()["detail"].removeprefix(prefix)
    assert ok(api.get(f"/v1/customers/{acme}/entitlements", scope="read"))["data"] == []
    twice = [{"feature": "sso", "kind": "boolean"}] * 2
    answer = api.post("/v1/plans", json={**base, "entitlements": twice})
    assert answer.status_code == 422, answer.text
    assert ok(api.get("/v1/plans", scope="read"))["data"] == []
