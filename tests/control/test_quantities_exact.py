"""Quantities of the control plane (grants, rollovers, a feature's credits per unit,
entitlement limits) are read exactly, as plan prices are: a JSON number is taken as
written, and more than 9 decimals is refused naming the field, never rounded (``1e-400``
credits were granted as 0 and ``0.0000000015`` as 0.000000002). Both stores."""

from __future__ import annotations

from typing import Any

import pytest
from control_support import customer, ok

from margin_testing import Api


def _grant(api: Api, amount: Any, **extra: Any) -> Any:
    acme = customer(api, "acme")
    body = {"currency": "tokens", "amount": amount, **extra}
    return api.post(f"/v1/customers/{acme}/credits/grants", json=body)


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(f"{field}: ")


@pytest.mark.parametrize("amount", ["1e-400", "0.0000000015", "0.0000000004", 1.0000000001])
def test_a_grant_finer_than_a_nano_credit_is_refused(api: Api, amount: Any) -> None:
    _refused(_grant(api, amount), "amount")
    acme = customer(api, "acme")
    assert ok(api.get(f"/v1/customers/{acme}/credits/grants"))["data"] == []


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("1.5", "1.5"), ("123456789.123456789", "123456789.123456789"), ('"7"', "7"), ("12", "12")],
)
def test_a_grant_as_a_json_number_is_read_as_written(api: Api, sent: str, stored: str) -> None:
    # 123456789.123456789 is no float: the body is read exactly, not rounded to ...12345679.
    acme = customer(api, "acme")
    body = f'{{"currency": "tokens", "amount": {sent}}}'.encode()
    headers = {"Content-Type": "application/json"}
    made = api.post(f"/v1/customers/{acme}/credits/grants", content=body, headers=headers)
    assert ok(made, 201)["amount"] == stored


def test_a_rollover_and_a_limit_finer_than_a_nano_unit_are_refused(api: Api) -> None:
    monthly = {"recurrence": "month"}
    _refused(_grant(api, "10", rollover_max="1e-400", **monthly), "rollover_max")
    feature = {"key": "runs", "backed_by": "signals", "event_name": "run"}
    credits = {**feature, "key": "paid-runs", "credit_currency": "tokens"}
    _refused(api.post("/v1/features", json={**credits, "unit_credits": "1e-400"}), "unit_credits")
    made = ok(api.post("/v1/features", json={**credits, "unit_credits": 2.5}), 201)
    assert made["unit_credits"] == "2.5"
    ok(api.post("/v1/features", json=feature), 201)
    acme = customer(api, "acme")
    ents = f"/v1/customers/{acme}/entitlements"
    _refused(api.put(ents, json={"feature": "runs", "limit": "0.0000000001"}), "limit")
    _refused(api.put(ents, json={"feature": "runs", "limit": " 5"}), "limit")
    assert ok(api.put(ents, json={"feature": "runs", "limit": 5.5}))["limit"] == "5.5"
