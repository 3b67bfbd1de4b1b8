"""Credit grants burned by usage as it is ingested: order, exact balances, history, retries."""

from __future__ import annotations

import random
from decimal import Decimal

from control_support import cost, customer, ok, set_clock, signals
from sqlalchemy import select

from margin.store.schema_control import webhook_messages
from margin_testing import Api

START = "2026-10-01T00:00:00+00:00"


def test_grants_burn_by_priority_then_expiry_with_exact_remainders(api: Api) -> None:
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
                "unit_credits": "1",
            },
        ),
        201,
    )
    ok(
        api.post(
            "/v1/features",
            json={
                "key": "ai",
                "backed_by": "ai_cost",
                "currency": "USD",
                "credit_currency": "USD",
            },
        ),
        201,
    )
    # (currency, amount, priority, expiry): burn order is priority, then earliest expiry,
    # then grants that never expire.
    specs = [
        ("meetings", "40", 5, "2027-03-01T00:00:00Z"),
        ("meetings", "30", 5, "2027-02-01T00:00:00Z"),
        ("meetings", "25", 1, None),
        ("meetings", "10", 9, "2027-01-01T00:00:00Z"),
        ("USD", "3.5", 1, "2027-04-01T00:00:00Z"),
        ("USD", "2.25", 0, None),
    ]
    grants = []
    for currency, amount, priority, expiry in specs:
        body = {
            "currency": currency,
            "amount": amount,
            "priority": priority,
            "effective_at": START,
            "expires_at": expiry,
        }
        grants.append(ok(api.post(f"/v1/customers/{acme}/credits/grants", json=body), 201))
    rng = random.Random(16)
    meetings, spend = 0, Decimal(0)
    for _ in range(25):
        if rng.random() < 0.5:
            n = rng.randint(1, 6)
            signals(api, "meeting_booked", n, "2026-10-10T09:00:00Z")
            signals(api, "email_sent", 2, "2026-10-10T09:00:00Z")  # burns nothing
            meetings += n
        else:
            amount = Decimal(rng.randint(1, 40_000)) / 100_000
            cost(api, str(amount), "2026-10-10T09:00:00Z")
            spend += amount

    def expected(pool: list[tuple[int, Decimal]], used: Decimal) -> list[Decimal]:
        left = []
        for _index, amount in pool:
            take = min(used, amount)
            used -= take
            left.append(amount - take)
        return left

    meeting_order = [(2, Decimal(25)), (1, Decimal(30)), (0, Decimal(40)), (3, Decimal(10))]
    usd_order = [(5, Decimal("2.25")), (4, Decimal("3.5"))]
    remaining = {
        g["id"]: Decimal(g["remaining"])
        for g in ok(api.get(f"/v1/customers/{acme}/credits/grants"))["data"]
    }
    for order, used in ((meeting_order, Decimal(meetings)), (usd_order, spend)):
        for (index, _amount), left in zip(order, expected(order, used), strict=True):
            assert remaining[grants[index]["id"]] == left
    balances = {
        b["currency"]: b for b in ok(api.get(f"/v1/customers/{acme}/credits/balances"))["data"]
    }
    assert Decimal(balances["meetings"]["balance"]) == 105 - meetings
    assert Decimal(balances["USD"]["balance"]) == Decimal("5.75") - spend
    # The ledger is the history of every change: its sum is the balance.
    rows = ok(api.get(f"/v1/customers/{acme}/credits/ledger", params={"currency": "meetings"}))
    assert sum(Decimal(r["delta"]) for r in rows["data"]) == 105 - meetings
    assert {r["cause"] for r in rows["data"]} == {"grant", "usage"}


def test_a_retried_ingest_burns_once_and_overage_is_owed(api: Api) -> None:
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
                "unit_credits": "2",
            },
        ),
        201,
    )
    body = {"currency": "meetings", "amount": "5", "effective_at": START}
    ok(api.post(f"/v1/customers/{acme}/credits/grants", json=body), 201)
    items = signals(api, "meeting_booked", 3, "2026-10-10T09:00:00Z")
    for _ in range(3):  # the same items again: duplicates burn nothing
        again = ok(api.post("/v1/signals", json={"items": items}, scope="ingest"))
        assert again["duplicates"] == 3
    (balance,) = ok(api.get(f"/v1/customers/{acme}/credits/balances"))["data"]
    assert balance == {"currency": "meetings", "balance": "-1", "granted": "5", "overage": "1"}
    # The next grant pays what is owed first.
    ok(api.post(f"/v1/customers/{acme}/credits/grants", json=body), 201)
    (balance,) = ok(api.get(f"/v1/customers/{acme}/credits/balances"))["data"]
    assert balance == {"currency": "meetings", "balance": "4", "granted": "10", "overage": "0"}


def test_grants_adding_up_past_64_bits_of_nano_units_balance_exactly(api: Api) -> None:
    acme = customer(api)
    body = {"currency": "meetings", "amount": "9223372036", "effective_at": START}
    for _ in range(2):  # each fits a 64-bit count of nano-units; their sum does not
        ok(api.post(f"/v1/customers/{acme}/credits/grants", json=body), 201)
    (balance,) = ok(api.get(f"/v1/customers/{acme}/credits/balances"))["data"]
    assert balance == {
        "currency": "meetings",
        "balance": "18446744072",
        "granted": "18446744072",
        "overage": "0",
    }


def test_bad_grants_are_refused_by_field(api: Api) -> None:
    acme = customer(api)
    url = f"/v1/customers/{acme}/credits/grants"
    for body, field in [
        ({"currency": "meetings", "amount": "-1"}, "amount"),
        ({"currency": "meetings", "amount": "x"}, "amount"),
        ({"currency": "meetings", "amount": "1e999999"}, "amount"),
        ({"currency": "meetings", "amount": "1_000"}, "amount"),
        ({"currency": "meetings", "amount": "\u0661\u0662"}, "amount"),
        ({"currency": "Bad Currency", "amount": "1"}, "currency"),
        ({"currency": "USD", "amount": "1", "time_zone": "Mars/Base"}, "time_zone"),
        (
            {
                "currency": "USD",
                "amount": "1",
                "effective_at": "2026-10-02T00:00:00Z",
                "expires_at": "2026-10-01T00:00:00Z",
            },
            "expires_at",
        ),
    ]:
        answer = api.post(url, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["field"] == field, answer.text
    assert ok(api.get(f"{url}"))["data"] == []
    assert (
        api.post(
            "/v1/customers/cus_nope/credits/grants", json={"currency": "USD", "amount": "1"}
        ).status_code
        == 404
    )


def test_low_and_exhausted_balances_are_announced_once_each(api: Api) -> None:
    set_clock(api, "2026-10-15T12:00:00+00:00")
    acme = customer(api)
    ok(api.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hook"}), 201)
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
    grant = {"currency": "meetings", "amount": "100", "effective_at": START}
    ok(api.post(f"/v1/customers/{acme}/credits/grants", json=grant), 201)
    for n in (85, 5, 1, 9, 3):  # balance 15, 10, 9 (low), 0 (exhausted), -3
        signals(api, "meeting_booked", n, "2026-10-10T09:00:00Z")
    with api.db.read() as conn:
        sent = [
            (m.event_type, m.payload["data"]["balance"])
            for m in conn.execute(select(webhook_messages).order_by(webhook_messages.c.created_at))
        ]
    assert sent == [("credits.low", "9"), ("entitlement.exhausted", "0")]
