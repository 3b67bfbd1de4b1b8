"""Conversion with an organization's rates, on both stores: exact amounts for direct,
inverse and cross rates, the look-back window, the choice between rates, rounding, and
figures that cannot be converted."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import event

from margin._time import DAY_US, HOUR_US, to_micros
from margin.fx import (
    Conversion,
    RateTable,
    Total,
    check_rate,
    convert,
    convert_many,
    rate_table,
    set_rates,
)
from margin.store.db import Database
from margin_testing import Tenant, make_tenant

UNIT = 1_000_000_000


def at(day: str, hour: int = 12) -> int:
    d = date.fromisoformat(day)
    return to_micros(datetime(d.year, d.month, d.day, hour, tzinfo=UTC))


def put(db: Database, org_id: str, *rows: tuple[str, str, str, str]) -> None:
    with db.write() as conn:
        set_rates(conn, org_id, [check_rate(b, q, d, r) for d, b, q, r in rows])


def conv(db: Database, org_id: str, amount: int, src: str, dst: str, when: int) -> Conversion:
    with db.read() as conn:
        return convert(conn, org_id, amount, src, dst, when)


@pytest.fixture
def ecb(db: Database, tenant: Tenant) -> str:
    """EUR-based rates as the ECB publishes them: Monday 2 to Friday 6 March 2026."""
    put(
        db,
        tenant.org_id,
        ("2026-03-05", "EUR", "USD", "1.0867"),
        ("2026-03-05", "EUR", "GBP", "0.85843"),
        ("2026-03-06", "EUR", "USD", "1.0843"),
        ("2026-03-06", "EUR", "GBP", "0.8601"),
        ("2026-03-06", "EUR", "JPY", "160.45"),
    )
    return tenant.org_id


def test_direct_rate_of_the_facts_date(db: Database, ecb: str) -> None:
    found = conv(db, ecb, 20 * UNIT, "EUR", "USD", at("2026-03-05"))
    assert found.amount_nanos == 21_734_000_000  # 20 × 1.0867
    assert (found.rate, found.rate_date, found.method, found.via, found.missing) == (
        Decimal("1.0867"),
        date(2026, 3, 5),
        "direct",
        None,
        False,
    )
    assert (found.source_nanos, found.source_currency, found.currency) == (20 * UNIT, "EUR", "USD")


def test_inverse_rate_is_rounded_to_20_digits_and_applied_half_even(db: Database, ecb: str) -> None:
    # 3 USD of AI cost for a EUR customer: 3 / 1.0867 EUR.
    found = conv(db, ecb, 3 * UNIT, "USD", "EUR", at("2026-03-05"))
    assert found.method == "inverse"
    assert found.rate == Decimal("0.92021717125241557007")  # 1 / 1.0867, 20 digits
    assert found.amount_nanos == 2_760_651_514  # 2.76065151375… rounded at the nano
    assert found.amount_nanos == round(Decimal(3 * UNIT) * found.rate)


def test_cross_rate_through_the_common_base(db: Database, ecb: str) -> None:
    found = conv(db, ecb, 3 * UNIT, "USD", "GBP", at("2026-03-05"))
    assert (found.method, found.via, found.rate_date) == ("cross", "EUR", date(2026, 3, 5))
    assert found.rate == Decimal("0.78994202631821109782")  # 0.85843 / 1.0867
    assert found.amount_nanos == 2_369_826_079
    back = conv(db, ecb, 1000 * UNIT, "GBP", "JPY", at("2026-03-06"))
    assert (back.method, back.via) == ("cross", "EUR")
    assert back.rate == Decimal("186.54807580513893733")  # 160.45 / 0.8601
    assert back.amount_nanos == 186_548_075_805_139


def test_weekend_and_holiday_use_the_last_rate_up_to_seven_days_back(
    db: Database, ecb: str
) -> None:
    saturday = conv(db, ecb, 20 * UNIT, "EUR", "USD", at("2026-03-07"))
    assert (saturday.rate, saturday.rate_date) == (Decimal("1.0843"), date(2026, 3, 6))
    seventh = conv(db, ecb, 20 * UNIT, "EUR", "USD", at("2026-03-13", 23))
    assert seventh.rate_date == date(2026, 3, 6)
    eighth = conv(db, ecb, 20 * UNIT, "EUR", "USD", at("2026-03-14", 0))
    assert eighth.missing
    # A rate dated after the figure never applies to it.
    before = conv(db, ecb, 20 * UNIT, "EUR", "USD", at("2026-03-04", 23))
    assert before.missing


def test_the_facts_utc_date_picks_the_rate(db: Database, ecb: str) -> None:
    late_thursday = at("2026-03-05", 23) + 59 * 60_000_000
    assert conv(db, ecb, UNIT, "EUR", "USD", late_thursday).rate == Decimal("1.0867")
    assert conv(db, ecb, UNIT, "EUR", "USD", late_thursday + HOUR_US).rate == Decimal("1.0843")


def test_missing_rate_is_flagged_never_zero_or_unconverted(db: Database, ecb: str) -> None:
    found = conv(db, ecb, 5 * UNIT, "CHF", "USD", at("2026-03-05"))
    assert found == Conversion(
        amount_nanos=None,
        currency="USD",
        source_nanos=5 * UNIT,
        source_currency="CHF",
        rate=None,
        rate_date=None,
        method=None,
        via=None,
        missing=True,
    )


def test_same_currency_is_identity(db: Database, ecb: str) -> None:
    found = conv(db, ecb, 123_456_789, "SEK", "SEK", at("1990-01-01"))
    assert (found.amount_nanos, found.rate, found.method, found.missing) == (
        123_456_789,
        Decimal(1),
        "identity",
        False,
    )


def test_latest_date_wins_then_direct_before_inverse_before_cross(
    db: Database, tenant: Tenant
) -> None:
    org = tenant.org_id
    put(
        db,
        org,
        ("2026-03-02", "USD", "EUR", "0.9"),  # direct, older
        ("2026-03-03", "EUR", "USD", "1.25"),  # inverse, newer: wins
    )
    found = conv(db, org, 10 * UNIT, "USD", "EUR", at("2026-03-04"))
    assert (found.method, found.rate, found.amount_nanos) == ("inverse", Decimal("0.8"), 8 * UNIT)
    put(db, org, ("2026-03-03", "USD", "EUR", "0.81"))  # direct on the same date: wins
    found = conv(db, org, 10 * UNIT, "USD", "EUR", at("2026-03-04"))
    assert (found.method, found.amount_nanos) == ("direct", 8_100_000_000)
    # A cross through CHF dated later than every direct or inverse rate is preferred.
    put(db, org, ("2026-03-04", "CHF", "USD", "1.25"), ("2026-03-04", "CHF", "EUR", "1"))
    found = conv(db, org, 10 * UNIT, "USD", "EUR", at("2026-03-04"))
    assert (found.method, found.via, found.amount_nanos) == ("cross", "CHF", 8 * UNIT)


def test_cross_rate_is_dated_by_its_older_leg_and_crosses_pick_alphabetically(
    db: Database, tenant: Tenant
) -> None:
    org = tenant.org_id
    put(
        db,
        org,
        ("2026-03-02", "EUR", "USD", "1.25"),
        ("2026-03-04", "EUR", "GBP", "0.8"),
        ("2026-03-02", "CHF", "USD", "1.25"),
        ("2026-03-02", "CHF", "GBP", "0.5"),
    )
    found = conv(db, org, 10 * UNIT, "USD", "GBP", at("2026-03-05"))
    assert (found.via, found.rate_date, found.amount_nanos) == ("CHF", date(2026, 3, 2), 4 * UNIT)
    put(db, org, ("2026-03-03", "EUR", "USD", "1.25"))  # both EUR legs now newer
    found = conv(db, org, 10 * UNIT, "USD", "GBP", at("2026-03-05"))
    assert (found.via, found.rate_date, found.amount_nanos) == (
        "EUR",
        date(2026, 3, 3),
        6_400_000_000,
    )


def test_rounding_is_half_even_at_the_nano_unit(db: Database, tenant: Tenant) -> None:
    put(db, tenant.org_id, ("2026-03-02", "EUR", "USD", "0.5"))
    when = at("2026-03-02")
    amounts = [conv(db, tenant.org_id, n, "EUR", "USD", when).amount_nanos for n in (1, 3, 5, -3)]
    assert amounts == [0, 2, 2, -2]


def test_another_organizations_rates_are_invisible(db: Database, ecb: str) -> None:
    other = make_tenant(db, "globex")
    assert conv(db, other.org_id, 20 * UNIT, "EUR", "USD", at("2026-03-05")).missing
    put(db, other.org_id, ("2026-03-05", "EUR", "USD", "2"))
    assert conv(db, other.org_id, UNIT, "EUR", "USD", at("2026-03-05")).amount_nanos == 2 * UNIT
    assert conv(db, ecb, UNIT, "EUR", "USD", at("2026-03-05")).amount_nanos == 1_086_700_000


def test_batch_conversion_reads_the_store_once_and_agrees_with_one_by_one(
    db: Database, ecb: str
) -> None:
    put(
        db,
        ecb,
        *[
            (f"2026-03-{d:02d}", "EUR", c, f"{r}.{d}{i}")
            for d in (2, 3, 4)
            for i, (c, r) in enumerate((("SEK", 11), ("CHF", 0), ("JPY", 160)))
        ],
        ("2026-03-03", "GBP", "NOK", "13.5"),
    )
    rng = random.Random(14)
    currencies = ["EUR", "USD", "GBP", "JPY", "SEK", "CHF", "NOK"]
    items = [
        (
            rng.randrange(-(10**12), 10**13),
            rng.choice(currencies),
            at("2026-03-01") + rng.randrange(14 * DAY_US),
        )
        for _ in range(300)
    ]
    statements: list[str] = []

    def count(*args: object) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):
            statements.append(str(args[2]))

    with db.read() as conn:
        event.listen(conn, "before_cursor_execute", count)
        batch = convert_many(conn, ecb, items, "GBP")
        event.remove(conn, "before_cursor_execute", count)
    assert len(statements) == 1
    one_by_one = [conv(db, ecb, a, c, "GBP", t) for a, c, t in items]
    assert batch == one_by_one
    assert {c.method for c in batch} == {"identity", "direct", "inverse", "cross", None}
    assert any(c.missing for c in batch)
    assert all(c.amount_nanos is None for c in batch if c.missing)


def test_a_loaded_table_refuses_questions_outside_what_it_loaded(db: Database, ecb: str) -> None:
    with db.read() as conn:
        table = rate_table(conn, ecb, at("2026-03-05"), at("2026-03-06"), {"EUR", "USD"})
    assert table.convert(UNIT, "USD", "EUR", at("2026-03-06")).amount_nanos == 922_253_989
    with pytest.raises(ValueError, match="outside this rate table's days"):
        table.quote("EUR", "USD", at("2026-03-09"))
    with pytest.raises(ValueError, match="outside this rate table's currencies"):
        table.quote("EUR", "GBP", at("2026-03-06"))


def test_a_table_built_from_rates_needs_no_store() -> None:
    table = RateTable([check_rate("EUR", "USD", "2026-03-05", "1.0867")])
    assert table.convert(20 * UNIT, "EUR", "USD", at("2026-03-06")).amount_nanos == 21_734_000_000
    assert table.quote("USD", "JPY", at("2026-03-06")) is None


def test_a_total_keeps_what_could_not_be_converted_apart(db: Database, ecb: str) -> None:
    when = at("2026-03-05")
    with db.read() as conn:
        found = convert_many(
            conn,
            ecb,
            [
                (20 * UNIT, "EUR", when),
                (3 * UNIT, "USD", when),
                (5 * UNIT, "CHF", when),
                (2 * UNIT, "CHF", when),
                (UNIT, "NOK", when),
            ],
            "EUR",
        )
    total = Total("EUR")
    for conversion in found:
        total.add(conversion)
    assert (total.amount_nanos, total.missing, total.complete) == (
        22_760_651_514,
        {"CHF": 7 * UNIT, "NOK": UNIT},
        False,
    )
    with pytest.raises(ValueError, match="a EUR figure added to a USD total"):
        Total("USD").add(found[0])
