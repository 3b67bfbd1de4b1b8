"""Charge models priced exactly: tier boundaries, package rounding, percentage min/max."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin._calendar import days_between, month_bounds, shift
from margin.billing.charges import price_percentage, price_quantity, validate_tiers

TIERS = [
    {"up_to": "100", "unit_price": "1", "flat_fee": "0"},
    {"up_to": "1000", "unit_price": "0.5", "flat_fee": "10"},
    {"up_to": None, "unit_price": "0.1", "flat_fee": "0"},
]


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        ("0", "0"),
        ("100", "100"),  # exactly the first bound: all in tier 1
        ("101", "110.5"),  # 100×1 + (1×0.5 + 10 flat)
        ("1000", "560"),  # 100 + (900×0.5 + 10)
        ("1001", "560.1"),  # + 1×0.1
        ("2500.5", "710.05"),  # 100 + 460 + 1500.5×0.1
    ],
)
def test_graduated(quantity: str, amount: str) -> None:
    result = price_quantity({"model": "graduated", "tiers": TIERS}, Decimal(quantity))
    assert result.amount == Decimal(amount)
    assert sum(t.units for t in result.tiers) == Decimal(quantity)


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        ("0", "0"),
        ("100", "100"),  # 100 × 1
        ("101", "60.5"),  # 101 × 0.5 + 10
        ("1000", "510"),  # 1000 × 0.5 + 10
        ("1001", "100.1"),  # 1001 × 0.1
    ],
)
def test_volume(quantity: str, amount: str) -> None:
    result = price_quantity({"model": "volume", "tiers": TIERS}, Decimal(quantity))
    assert result.amount == Decimal(amount)


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [("0", "0"), ("1", "5"), ("1000", "5"), ("1000.01", "10"), ("3000", "15")],
)
def test_package_rounds_started_packages_up(quantity: str, amount: str) -> None:
    charge = {"model": "package", "package_size": "1000", "package_price": "5"}
    assert price_quantity(charge, Decimal(quantity)).amount == Decimal(amount)


def test_per_unit_is_exact() -> None:
    charge = {"model": "per_unit", "unit_price": "0.000000123"}
    assert price_quantity(charge, Decimal(3)).amount == Decimal("0.000000369")


def test_percentage_clamps_each_event() -> None:
    charge = {"model": "percentage", "rate": "2.5", "min_per_event": "0.30", "max_per_event": "5"}
    # 10 → 0.25 → min 0.30; 100 → 2.5; 1000 → 25 → max 5. Total 7.80.
    result = price_percentage(charge, [Decimal(10), Decimal(100), Decimal(1000)])
    assert result.amount == Decimal("7.80")
    assert result.quantity == Decimal(1110)
    assert result.detail["clamped"] == 2
    unclamped = price_percentage({"model": "percentage", "rate": "1"}, [Decimal("12.34")])
    assert unclamped.amount == Decimal("0.1234")


def test_tier_validation() -> None:
    validate_tiers(TIERS)
    for bad in (
        [],
        [{"up_to": "10"}],
        [{"up_to": None}, {"up_to": None}],
        [{"up_to": "10"}, {"up_to": "5"}, {"up_to": None}],
    ):
        with pytest.raises(ValueError, match=r"tier|up_to"):
            validate_tiers(bad)


def test_periods() -> None:
    lo, hi = month_bounds("2026-02")
    assert days_between(lo, hi) == 28
    assert shift("2026-12", 1) == "2027-01"
    assert shift("2026-01", -1) == "2025-12"
    with pytest.raises(ValueError, match="period"):
        month_bounds("2026-13")
