"""Exact money helpers: nano-unit storage, parsing and formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin._money import (
    MoneyError,
    format_decimal,
    from_nanos,
    parse_amount,
    storable_amount,
    to_nanos,
)


@pytest.mark.parametrize(
    ("amount", "nanos"),
    [
        ("0.0000001", 100),
        ("0.1", 100_000_000),
        ("12.345678901", 12_345_678_901),
        ("0.0000000005", 0),  # half-even: 0.5 nano rounds to 0
        ("0.0000000015", 2),  # and 1.5 to 2
        ("-3", -3_000_000_000),
    ],
)
def test_nanos_round_trip(amount: str, nanos: int) -> None:
    assert to_nanos(Decimal(amount)) == nanos
    assert from_nanos(nanos) == Decimal(amount).quantize(
        Decimal("1e-9"), rounding="ROUND_HALF_EVEN"
    )


def test_sum_of_tiny_amounts_is_exact() -> None:
    total = sum(to_nanos(Decimal("0.0000001")) for _ in range(1_000_000))
    assert from_nanos(total) == Decimal("0.1")
    assert format_decimal(from_nanos(total)) == "0.1"


def test_parse_refuses_what_is_not_an_exact_amount() -> None:
    assert parse_amount("0.002") == Decimal("0.002")
    assert parse_amount(7) == Decimal(7)
    assert parse_amount(0.1) == Decimal("0.1")  # a JSON number's shortest repr, not 0.1000…0555
    for bad in (None, True, "abc", "NaN", "Infinity", [1], {}):
        with pytest.raises(MoneyError):
            parse_amount(bad)


def test_only_ascii_decimals_are_amounts() -> None:
    accepted = {".5": "0.5", "5.": "5", "+3": "3", "-0.25": "-0.25", "1e-7": "1e-7"}
    for text, value in accepted.items():
        assert parse_amount(text) == Decimal(value)
    # Each of these Decimal() would read as a number: none is what a client means to send.
    for bad in (" 5", "5 ", "1_000", "\u0661\u0662", "\uff11\uff12", "inf", "-Infinity", ""):
        with pytest.raises(MoneyError, match="is not a decimal number"):
            parse_amount(bad)


def test_an_exponent_past_any_storable_amount_is_too_large_not_an_overflow() -> None:
    for text in ("1e999999", "1E+999999", "-1e999999999999999999", "1e19"):
        with pytest.raises(MoneyError, match="too large"):
            to_nanos(parse_amount(text))
    assert to_nanos(parse_amount("1e-999999999999")) == 0
    assert to_nanos(parse_amount("0e999999999")) == 0
    assert to_nanos(parse_amount("9223372036.854775807")) == 2**63 - 1


def test_storable_amount_names_the_field() -> None:
    assert storable_amount("1.5", "unit_cost") == Decimal("1.5")
    with pytest.raises(ValueError, match="unit_cost must not be negative"):
        storable_amount("-1", "unit_cost")
    with pytest.raises(ValueError, match="too large"):
        storable_amount("1e400")


def test_format_has_no_exponent() -> None:
    assert format_decimal(Decimal("1E-7")) == "0.0000001"
    assert format_decimal(Decimal("100.000")) == "100"
    assert format_decimal(Decimal("0E-9")) == "0"
