"""paid-python 1.12.0's credit methods, unmodified, against a real ``margin serve``: grants by
id and by external id, and balances that Paid signals burn down, with exact figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from compat_support import Served
from paid import Paid
from paid.core.api_error import ApiError
from paid.errors.not_found_error import NotFoundError
from paid.types import CustomerByExternalId, Signal


@pytest.fixture(scope="module")
def paid(served: Served) -> Iterator[Paid]:
    with httpx.Client(timeout=30) as http:
        yield Paid(
            token=served.keys["admin"],
            base_url=f"{served.url}/compat/paid/api/v2",
            httpx_client=http,
        )


def test_grants_and_balances_burned_by_signals(paid: Paid, served: Served) -> None:
    made = paid.customers.create_customer(name="SDR buyer", external_id="sdr-credits")
    with served.client() as margin:
        feature = {
            "key": "meetings",
            "backed_by": "signals",
            "event_name": "meeting_booked",
            "credit_currency": "meetings",
        }
        assert margin.post("/v1/features", json=feature).status_code == 201
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    first = paid.customers.grant_customer_credits(
        made.id, credit_currency_key="meetings", amount=100, expires_at=expires
    )
    assert first.created is True
    assert (first.customer.id, first.customer.external_id) == (made.id, "sdr-credits")
    assert (first.credit_currency.key, first.credit_currency.name) == ("meetings", "meetings")
    assert (first.grant.amount, first.grant.amount_decimal) == (100, "100")
    assert (first.grant.expires_at, first.grant.status) == (expires, "active")
    second = paid.customers.grant_customer_credits_by_external_id(
        "sdr-credits", credit_currency_key="meetings", amount=2.5
    )
    assert (second.grant.amount, second.grant.amount_decimal) == (2, "2.5")
    assert second.grant.expires_at is None
    signals = [
        Signal(
            event_name="meeting_booked",
            customer=CustomerByExternalId(external_customer_id="sdr-credits"),
            idempotency_key=f"credit-meeting-{i}",
        )
        for i in range(7)
    ]
    assert paid.signals.create_signals(signals=signals).ingested == 7
    [pool] = paid.customers.get_customer_credit_balances(made.id).data
    assert (pool.credits_currency_id, pool.currency_key, pool.currency_name) == ("meetings",) * 3
    # The grant that expires burns first: 7 of its 100; the open-ended 2.5 untouched.
    assert (pool.available, pool.used, pool.total) == (95.5, 7, 102.5)
    assert pool.recipient == "organization"
    assert [(g.available, g.used, g.total, g.expires_at) for g in pool.grants] == [
        (93, 7, 100, expires),
        (2.5, 0, 2.5, None),
    ]
    assert pool.period_end is None  # one grant never expires
    same = paid.customers.get_customer_credit_balances_by_external_id("sdr-credits").data
    assert same == [pool]


def test_refusals_in_paids_field_names(paid: Paid) -> None:
    made = paid.customers.create_customer(name="Refused", external_id="sdr-refused")
    cases = [
        ({"credit_currency_key": "Not A Key", "amount": 1}, "creditCurrencyKey"),
        ({"credit_currency_key": "meetings", "amount": 0}, "amount"),
        ({"credit_currency_key": "meetings", "amount": 0.0000001}, "amount"),
        (
            {
                "credit_currency_key": "meetings",
                "amount": 1,
                "starts_at": datetime.now(UTC) + timedelta(days=1),
            },
            "startsAt",
        ),
    ]
    for body, field in cases:
        with pytest.raises(ApiError) as refused:
            paid.customers.grant_customer_credits(made.id, **body)  # type: ignore[arg-type]
        assert refused.value.status_code == 422
        assert isinstance(refused.value.body, dict)
        assert refused.value.body["field"] == field, refused.value.body
    # Nothing was granted by any of them.
    assert paid.customers.get_customer_credit_balances(made.id).data == []
    with pytest.raises(NotFoundError):
        paid.customers.get_customer_credit_balances("cus_nobody")
    with pytest.raises(NotFoundError):
        paid.customers.grant_customer_credits_by_external_id(
            "nobody", credit_currency_key="meetings", amount=1
        )
