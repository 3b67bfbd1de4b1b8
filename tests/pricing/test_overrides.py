"""Tenant price overrides: storage service on SQLite and PostgreSQL, and their precedence."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from margin._time import to_micros
from margin.pricing import (
    OverrideError,
    Pricer,
    covered_models,
    create_override,
    delete_override,
    get_override,
    list_overrides,
)
from margin.store.db import Database
from margin.store.keys import create_org

DAY = 86_400_000_000
T0 = to_micros(datetime(2026, 11, 1, tzinfo=UTC))
NOON = T0 + DAY // 2
USAGE = {"input_tokens": 1200, "cache_read_tokens": 1000, "output_tokens": 300}


@pytest.fixture
def org(db: Database) -> str:
    with db.write() as conn:
        return create_org(conn, "acme")


def test_create_get_list_delete_roundtrip(db: Database, org: str) -> None:
    created = create_override(
        db,
        org,
        provider="openai",
        model="gpt-4o*",
        prices={"input": "2", "output": "8", "cache_read": 1},
        effective_from=T0,
        note="2026 contract",
    )
    assert created.id.startswith("prc_")
    assert get_override(db, org, created.id) == created
    assert list_overrides(db, org) == [created]
    assert list_overrides(db, org, provider="openai", model="gpt-4o-mini", at_us=NOON) == [created]
    assert list_overrides(db, org, provider="anthropic") == []
    assert list_overrides(db, org, at_us=T0 - 1) == []
    assert created.to_dict()["prices"] == {"input": "2", "output": "8", "cache_read": "1"}
    assert delete_override(db, org, created.id) is True
    assert delete_override(db, org, created.id) is False
    assert get_override(db, org, created.id) is None


def test_other_tenants_cannot_see_or_delete(db: Database, org: str) -> None:
    created = create_override(db, org, provider="*", model="*", prices={"input": "1"})
    with db.write() as conn:
        other = create_org(conn, "globex")
    assert get_override(db, other, created.id) is None
    assert list_overrides(db, other) == []
    assert delete_override(db, other, created.id) is False
    assert get_override(db, org, created.id) == created


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"provider": ""}, "provider"),
        ({"model": "  "}, "model"),
        ({"prices": {}}, "prices"),
        ({"prices": {"inptu": "1"}}, "prices.inptu"),
        ({"prices": {"input": "-1"}}, "prices.input"),
        ({"prices": {"input": "abc"}}, "prices.input"),
        ({"currency": "usd"}, "currency"),
        ({"effective_from": -5}, "effective_from"),
        ({"effective_from": T0, "effective_to": T0}, "effective_to"),
        ({"note": "x" * 600}, "note"),
    ],
)
def test_validation_names_the_field(
    db: Database, org: str, changes: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o",
        "prices": {"input": "1"},
    } | changes
    with pytest.raises(OverrideError) as info:
        create_override(db, org, **args)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert list_overrides(db, org) == []


def test_override_beats_catalog_and_invalidate_picks_changes_up(db: Database, org: str) -> None:
    pricer = Pricer(db)
    # Catalog gpt-4o: input $2.5, cache read $1.25, output $10 per 1M:
    # 200 × 2.5 + 1000 × 1.25 + 300 × 10 = 500 + 1250 + 3000 = 4750 / 1M
    before = pricer.price(org, "openai", "gpt-4o-2024-08-06", USAGE, NOON)
    assert (before.priced_by, before.amount) == ("catalog", Decimal("0.00475"))

    override = create_override(
        db,
        org,
        provider="openai",
        model="gpt-4o*",
        prices={"input": "2", "cache_read": "1", "output": "8"},
        effective_from=T0,
    )
    # Cached until invalidated (the API calls invalidate after a change).
    assert pricer.price(org, "openai", "gpt-4o-2024-08-06", USAGE, NOON).priced_by == "catalog"
    pricer.invalidate(org)
    # 200 × 2 + 1000 × 1 + 300 × 8 = 400 + 1000 + 2400 = 3800 / 1M
    after = pricer.price(org, "openai", "gpt-4o-2024-08-06", USAGE, NOON)
    assert (after.priced_by, after.amount, after.price_ref) == (
        "override",
        Decimal("0.0038"),
        override.id,
    )
    assert after.usage == USAGE
    # Other tenants keep the catalog.
    with db.write() as conn:
        other = create_org(conn, "globex")
    assert pricer.price(other, "openai", "gpt-4o", USAGE, NOON).priced_by == "catalog"


def test_unpriced_kinds_fall_under_their_parent_and_currency_is_kept(
    db: Database, org: str
) -> None:
    create_override(
        db,
        org,
        provider="*",
        model="my-private-model",
        prices={"input": "3", "output": "9"},
        currency="EUR",
        effective_from=T0,
    )
    pricer = Pricer(db)
    # No cache_read rate: the 1000 cached tokens are input. 1200 × 3 + 300 × 9 = 3600 + 2700 = 6300 / 1M
    result = pricer.price(org, "vllm", "my-private-model", USAGE, NOON)
    assert (result.priced_by, result.amount, result.currency) == (
        "override",
        Decimal("0.0063"),
        "EUR",
    )


def test_per_unit_kinds(db: Database, org: str) -> None:
    create_override(
        db,
        org,
        provider="openai",
        model="gpt-image-1",
        prices={"image": "0.04", "request": "0.001"},
        effective_from=T0,
    )
    # 3 images × 0.04 + 1 request × 0.001 = 0.121
    usage = {"input_tokens": 50, "output_tokens": 4160, "images": 3}
    assert Pricer(db).price(org, "openai", "gpt-image-1", usage, NOON).amount == Decimal("0.121")


def test_most_specific_override_wins(db: Database, org: str) -> None:
    create_override(db, org, provider="*", model="*", prices={"input": "100"}, effective_from=T0)
    glob = create_override(
        db, org, provider="openai", model="gpt-4o*", prices={"input": "10"}, effective_from=T0
    )
    exact = create_override(
        db, org, provider="openai", model="gpt-4o-mini", prices={"input": "1"}, effective_from=T0
    )
    pricer = Pricer(db)
    usage = {"input_tokens": 1_000_000}
    assert pricer.price(org, "openai", "gpt-4o-mini", usage, NOON).price_ref == exact.id
    assert pricer.price(org, "openai", "gpt-4o", usage, NOON).price_ref == glob.id
    assert pricer.price(org, "anthropic", "claude-haiku-4-5", usage, NOON).amount == Decimal(100)


def test_effective_window_inside_a_day(db: Database, org: str) -> None:
    # A contract rate from 12:00 to 18:00: before and after it the catalog applies.
    start, end = T0 + 12 * 3_600_000_000, T0 + 18 * 3_600_000_000
    create_override(
        db,
        org,
        provider="openai",
        model="gpt-4o",
        prices={"input": "1"},
        effective_from=start,
        effective_to=end,
    )
    pricer = Pricer(db)
    usage = {"input_tokens": 1_000_000}
    assert pricer.price(org, "openai", "gpt-4o", usage, start - 1).amount == Decimal("2.5")
    assert pricer.price(org, "openai", "gpt-4o", usage, start).amount == Decimal(1)
    assert pricer.price(org, "openai", "gpt-4o", usage, end - 1).amount == Decimal(1)
    assert pricer.price(org, "openai", "gpt-4o", usage, end).amount == Decimal("2.5")
    assert pricer.price(org, "openai", "gpt-4o", usage, end - DAY).amount == Decimal("2.5")


# --- overrides name models as the catalog does -----------------------------------------------


def test_a_model_override_covers_its_snapshots_but_not_other_models(db: Database, org: str) -> None:
    override = create_override(
        db, org, provider="openai", model="gpt-4o", prices={"input": "1"}, effective_from=T0
    )
    pricer = Pricer(db)
    usage = {"input_tokens": 1_000_000}
    for snapshot in ("gpt-4o", "gpt-4o-2024-08-06", "GPT-4o-2024-11-20", "openai/gpt-4o"):
        result = pricer.price(org, "openai", snapshot, usage, NOON)
        assert (result.amount, result.price_ref) == (Decimal(1), override.id), snapshot
    # Other catalog models: their own catalog price (gpt-4o-mini $0.15/M; the May 2024
    # snapshot is a model of its own in the catalog, at $5/M).
    assert pricer.price(org, "openai", "gpt-4o-mini", usage, NOON).amount == Decimal("0.15")
    assert pricer.price(org, "openai", "gpt-4o-2024-05-13", usage, NOON).amount == Decimal(5)
    assert list_overrides(db, org, model="gpt-4o-2024-08-06") == [override]
    assert list_overrides(db, org, model="gpt-4o-mini") == []


def test_the_record_own_model_name_beats_another_name_of_it(db: Database, org: str) -> None:
    family = create_override(
        db, org, provider="openai", model="gpt-4o", prices={"input": "1"}, effective_from=T0
    )
    dated = create_override(
        db,
        org,
        provider="*",
        model="gpt-4o-2024-08-06",
        prices={"input": "2"},
        effective_from=T0,
    )
    pricer = Pricer(db)
    usage = {"input_tokens": 1_000_000}
    assert pricer.price(org, "openai", "gpt-4o-2024-08-06", usage, NOON).price_ref == dated.id
    assert pricer.price(org, "openai", "gpt-4o-2024-11-20", usage, NOON).price_ref == family.id


def test_a_record_without_provider_is_the_catalog_provider_of_its_model(
    db: Database, org: str
) -> None:
    # gpt-4o-mini: input $0.15/M, output $0.60/M in the catalog.
    create_override(
        db,
        org,
        provider="openai",
        model="gpt-4o-mini",
        prices={"input": "0.10", "output": "0.40"},
        effective_from=T0,
    )
    usage = {"input_tokens": 2_000_000, "output_tokens": 2_500_000}
    result = Pricer(db).price(org, None, "gpt-4o-mini", usage, NOON)
    assert (result.priced_by, result.amount) == ("override", Decimal("1.2"))
    catalog = Pricer(db).price(org, None, "gpt-4o-mini", usage, T0 - 1)
    assert (catalog.priced_by, catalog.amount) == ("catalog", Decimal("1.8"))
    # An override for another provider does not apply to it.
    create_override(
        db, org, provider="azure", model="gpt-4o", prices={"input": "9"}, effective_from=T0
    )
    assert Pricer(db).price(org, None, "gpt-4o", {"input_tokens": 10**6}, NOON).amount == Decimal(
        "2.5"
    )


def test_covered_models_lists_what_a_pattern_prices() -> None:
    [model] = covered_models("openai", "gpt-4o")
    assert (model.provider, model.model) == ("openai", "gpt-4o")
    assert "gpt-4o-2024-08-06" in model.names
    globbed = {m.model for m in covered_models("openai", "gpt-4o*")}
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4o-2024-05-13"} <= globbed
    anywhere = {(m.provider, m.model) for m in covered_models("*", "gpt-4o")}
    assert ("openai", "gpt-4o") in anywhere
    assert len(anywhere) > 1  # gateways and clouds sell it too
    assert covered_models("openai", "house-*") == []
