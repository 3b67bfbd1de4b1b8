"""paid-python 1.12.0's customer-unit methods, unmodified, against a real ``margin serve``
(both stores): a unit tree by id and by external id, exact shapes, refusals in Paid's field
names with nothing changed, a cap's round trip, and a cap reached refusing the unit's check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from compat_support import Served
from paid import Paid
from paid.core.api_error import ApiError
from paid.core.request_options import RequestOptions
from paid.errors.conflict_error import ConflictError
from paid.errors.not_found_error import NotFoundError
from paid.types import CustomerByExternalId, Signal

# Paid's client retries a 409 twice, with back-off: a refusal is asserted on the first answer.
ONCE: RequestOptions = {"max_retries": 0}


@pytest.fixture(scope="module")
def paid(served: Served) -> Iterator[Paid]:
    with httpx.Client(timeout=30) as http:
        yield Paid(
            token=served.keys["admin"],
            base_url=f"{served.url}/compat/paid/api/v2",
            httpx_client=http,
        )


def _refused(exc: pytest.ExceptionInfo[ApiError], status: int, field: str) -> str:
    assert exc.value.status_code == status, exc.value.body
    body: dict[str, Any] = exc.value.body  # type: ignore[assignment]
    assert (body["field"], body["error"]) == (field, body["title"])
    return str(body["detail"])


def test_a_unit_tree_by_id_and_by_external_id(paid: Paid) -> None:
    made = paid.customers.create_customer(name="Units Co", external_id="units-co")
    c = paid.customers
    root = c.create_customer_unit(
        made.id, external_id="hq", external_type="company", metadata={"region": "eu"}
    )
    assert root.model_dump(by_alias=True, exclude={"created_at", "updated_at"}) == {
        "externalId": "hq",
        "name": "hq",  # Paid's default: the external id
        "externalType": "company",
        "status": "ACTIVE",
        "parentExternalId": None,
        "isRoot": True,
        "metadata": {"region": "eu"},
    }
    assert root.created_at == root.updated_at
    assert abs((datetime.now(UTC) - root.created_at).total_seconds()) < 60
    team = c.create_customer_unit_by_external_id(
        "units-co",
        external_id="team-a",
        name="Team A",
        external_type="team",
        parent_external_id="hq",
    )
    assert (team.name, team.parent_external_id, team.is_root) == ("Team A", "hq", False)
    c.create_customer_unit(made.id, external_id="squad-1", parent_external_id="team-a")
    c.create_customer_unit(
        made.id, external_id="team-b", external_type="team", parent_external_id="hq"
    )
    listed = c.list_customer_units(made.id)
    assert [(u.external_id, u.parent_external_id) for u in listed.data] == [
        ("hq", None),
        ("team-a", "hq"),
        ("squad-1", "team-a"),
        ("team-b", "hq"),
    ]
    assert listed.pagination.model_dump(by_alias=True) == {
        "limit": 50,
        "offset": 0,
        "total": 4,
        "hasMore": False,
    }
    teams = c.list_customer_units_by_external_id("units-co", external_type="team")
    assert [u.external_id for u in teams.data] == ["team-a", "team-b"]
    under_hq = c.list_customer_units(made.id, parent_external_id="hq", limit=1, offset=1)
    assert [u.external_id for u in under_hq.data] == ["team-b"]
    assert (under_hq.pagination.total, under_hq.pagination.has_more) == (2, False)
    assert c.list_customer_units(made.id, status="DELETED").data == []
    assert c.get_customer_unit_by_external_id("units-co", "team-a") == team
    assert c.get_customer_unit(made.id, "team-a") == team
    renamed = c.update_customer_unit(made.id, "team-a", name="Team Alpha")
    assert (renamed.name, renamed.external_type, renamed.parent_external_id) == (
        "Team Alpha",
        "team",
        "hq",
    )
    moved = c.update_customer_unit_by_external_id(
        "units-co", "squad-1", parent_external_id="team-b", metadata={"k": 1}
    )
    assert (moved.parent_external_id, moved.metadata) == ("team-b", {"k": 1})
    gone = c.delete_customer_unit(made.id, "team-a")
    assert (gone.external_id, gone.status, gone.name) == ("team-a", "DELETED", "Team Alpha")
    with pytest.raises(NotFoundError) as missing:
        c.get_customer_unit(made.id, "team-a")
    assert _refused(missing, 404, "externalCustomerUnitId") == (
        "externalCustomerUnitId: the customer has no unit 'team-a'"
    )


def test_refusals_name_paids_fields_and_change_nothing(paid: Paid) -> None:
    made = paid.customers.create_customer(name="Refusals", external_id="units-refused")
    other = paid.customers.create_customer(name="Other", external_id="units-other")
    c = paid.customers
    c.create_customer_unit(made.id, external_id="root")
    c.create_customer_unit(made.id, external_id="child", parent_external_id="root")
    c.create_customer_unit(other.id, external_id="theirs")
    before = c.list_customer_units(made.id)
    cases: list[tuple[Any, int, str]] = [
        (
            lambda: c.create_customer_unit(made.id, external_id="root2", request_options=ONCE),
            409,
            "parentExternalId",
        ),
        (
            lambda: c.create_customer_unit(
                made.id, external_id="child", parent_external_id="root", request_options=ONCE
            ),
            409,
            "externalId",
        ),
        (
            lambda: c.create_customer_unit(made.id, external_id="x", parent_external_id="theirs"),
            422,
            "parentExternalId",
        ),
        (
            lambda: c.create_customer_unit(made.id, external_id="x", parent_external_id="nobody"),
            422,
            "parentExternalId",
        ),
        (lambda: c.create_customer_unit(made.id, external_id=".."), 422, "externalId"),
        (
            lambda: c.create_customer_unit(
                made.id, external_id="x" * 300, parent_external_id="root"
            ),
            422,
            "externalId",
        ),
        (
            lambda: c.update_customer_unit(
                made.id, "root", parent_external_id="child", request_options=ONCE
            ),
            409,
            "parentExternalId",
        ),
        (
            lambda: c.update_customer_unit(made.id, "nobody", name="x"),
            404,
            "externalCustomerUnitId",
        ),
        (
            lambda: c.delete_customer_unit(made.id, "root", request_options=ONCE),
            409,
            "externalCustomerUnitId",
        ),
        (lambda: c.list_customer_units("cus_nobody"), 404, "id"),
        (lambda: c.list_customer_units_by_external_id("nobody"), 404, "externalId"),
    ]
    details = []
    for call, status, field in cases:
        with pytest.raises(ApiError) as exc:
            call()
        details.append(_refused(exc, status, field))
    assert isinstance(exc.value, NotFoundError)
    assert details[0] == "parentExternalId: the customer's root unit is 'root'"
    assert details[2] == "parentExternalId: the customer has no unit 'theirs'"
    assert details[6] == "parentExternalId: 'child' is the unit or under it"
    assert c.list_customer_units(made.id) == before
    with pytest.raises(ConflictError):
        c.delete_customer_unit_by_external_id("units-refused", "root", request_options=ONCE)


def _signal(unit: str | None, key: str) -> Signal:
    return Signal(
        event_name="units_call",
        customer=CustomerByExternalId(external_customer_id="units-capped"),
        customer_unit=None if unit is None else {"external_customer_unit_id": unit},
        idempotency_key=key,
    )


def test_a_cap_round_trip_and_a_reached_cap_refuses_the_units_check(
    paid: Paid, served: Served
) -> None:
    made = paid.customers.create_customer(name="Capped", external_id="units-capped")
    c = paid.customers
    with served.client() as margin:
        feature = {
            "key": "units_calls",
            "backed_by": "signals",
            "event_name": "units_call",
            "credit_currency": "unit_credits",
        }
        assert margin.post("/v1/features", json=feature).status_code == 201
        entitled = {"feature": "units_calls", "kind": "boolean"}
        assert margin.put(f"/v1/customers/{made.id}/entitlements", json=entitled).status_code == 200
    c.grant_customer_credits(made.id, credit_currency_key="unit_credits", amount=100)
    c.create_customer_unit(made.id, external_id="org")
    c.create_customer_unit(made.id, external_id="team", parent_external_id="org")
    c.create_customer_unit(made.id, external_id="other", parent_external_id="org")
    with pytest.raises(NotFoundError) as none:
        c.get_customer_unit_cap(made.id, "team")
    _refused(none, 404, "externalCustomerUnitId")
    for body, field in [
        ({"amount": 0}, "amount"),
        ({"amount": 1, "frequency": "WEEKLY"}, "frequency"),
        ({"amount": 1, "credits_currency_id": "Not A Key"}, "creditsCurrencyId"),
    ]:
        with pytest.raises(ApiError) as bad:
            c.set_customer_unit_cap(made.id, "team", **body)
        _refused(bad, 422, field)
    # creditsCurrencyId omitted: the organization's only credit currency.
    set_ = c.set_customer_unit_cap(made.id, "team", amount=3)
    assert (set_.external_customer_unit_id, set_.customer_id, set_.credits_currency_id) == (
        "team",
        made.id,
        "unit_credits",
    )
    policy = set_.policy
    assert (policy.amount, policy.frequency, policy.effective_until, policy.source) == (
        3,
        "MONTHLY",
        None,
        "api",
    )
    assert policy.effective_from == policy.created_at
    today = policy.effective_from.replace(hour=0, minute=0, second=0, microsecond=0)
    assert set_.current_period is not None
    assert set_.current_period.window.start == today
    assert (set_.current_period.used, set_.current_period.remaining) == (0, 3)
    got = c.get_customer_unit_cap_by_external_id(
        "units-capped", "team", credits_currency_id="unit_credits"
    )
    assert got.model_dump() == set_.model_dump()
    with pytest.raises(NotFoundError):
        c.get_customer_unit_cap(made.id, "team", credits_currency_id="other_credits")

    def access(unit: str) -> bool:
        answer = served.get(f"/v1/customers/{made.id}/entitlements/units_calls", unit=unit)
        return bool(answer["has_access"])

    assert (
        paid.signals.create_signals(
            signals=[_signal("team", f"cap-{i}") for i in range(2)]
        ).ingested
        == 2
    )
    assert (
        paid.signals.create_signals(
            signals=[_signal(None, f"cap-c-{i}") for i in range(5)]
        ).ingested
        == 5
    )
    assert access("team") is True
    paid.signals.create_signals(signals=[_signal("team", "cap-2")])
    period = c.get_customer_unit_cap(made.id, "team").current_period
    assert period is not None
    assert (period.used, period.remaining) == (3, 0)
    assert (access("team"), access("other"), access("org")) == (False, True, True)
    # A cap on the parent counts its whole subtree: 3 of 2.5.
    c.set_customer_unit_cap_by_external_id(
        "units-capped", "org", amount=2.5, credits_currency_id="unit_credits"
    )
    assert (access("other"), access("org")) == (False, False)
    with pytest.raises(ConflictError):
        c.delete_customer_unit(made.id, "team", request_options=ONCE)  # it has a cap
    ended = c.end_customer_unit_cap(made.id, "org")
    assert (ended.credits_currency_id, ended.ended_versions) == ("unit_credits", 1)
    assert ended.policy is not None
    assert (ended.policy.amount, ended.policy.effective_until is not None) == (2.5, True)
    assert access("other") is True
    c.end_customer_unit_cap_by_external_id("units-capped", "team")
    assert access("team") is True
    with pytest.raises(NotFoundError):
        c.end_customer_unit_cap(made.id, "team")
    assert c.delete_customer_unit(made.id, "team").status == "DELETED"
