"""``PriceBatch.nanos`` (one ingest request's pricer) answers exactly what ``Pricer.price``
answers, in stored nano-units: catalog and override plans, whole-nano-unit rates (the integer
fast path) and fractional ones, tiers, and every unpriced reason."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from genai_prices.data_snapshot import get_snapshot

from margin._money import MoneyError, to_nanos
from margin._time import to_micros
from margin.pricing import Pricer, create_override
from margin.pricing.pricer import Priced
from margin.store.db import Database
from margin.store.keys import create_org
from margin.usage import USAGE_KEYS

AT = to_micros(datetime(2026, 11, 1, 12, tzinfo=UTC))
PROVIDERS = ("openai", "anthropic", "google", "mistral", "aws", "x-ai", "deepseek")


def expected(
    pricer: Pricer, org: str, provider: str | None, model: str | None, usage: Any
) -> Priced:
    """What ``PriceBatch.nanos`` must answer: ``Pricer.price``, amount in nano-units."""
    result = pricer.price(org, provider, model, usage, AT)
    if result.amount is None:
        return Priced(
            None,
            result.currency,
            result.priced_by,
            result.price_ref,
            result.unpriced_reason,
            result.usage,
        )
    try:
        nanos = to_nanos(result.amount)
    except MoneyError as exc:
        return Priced(None, result.currency, "unpriced", None, f"amount: {exc}", result.usage)
    return Priced(nanos, result.currency, result.priced_by, result.price_ref, None, result.usage)


def random_usage(rnd: random.Random) -> dict[str, int]:
    keys = rnd.sample(USAGE_KEYS, rnd.randint(1, 6))
    return {k: rnd.choice([0, 1, 7, 999, 128_001, 2_000_000, 10**9]) for k in keys}


def test_catalog_prices_match_pricer_price() -> None:
    pricer = Pricer()
    batch = pricer.batch("org")
    models = [
        (provider.id, model.id)
        for provider in get_snapshot().providers
        if provider.id in PROVIDERS
        for model in provider.models
    ]
    assert len(models) > 100
    rnd = random.Random(7)
    whole = 0
    for provider, model in models:
        for _ in range(8):
            usage = random_usage(rnd)
            assert batch.nanos(provider, model, usage, AT) == expected(
                pricer, "org", provider, model, usage
            ), (provider, model, usage)
        whole += (
            pricer._resolve("org", provider, model, AT, None).nanos({"input_tokens": 1}) is not None
        )
    # Most catalog prices are whole nano-units per token: the integer path is the usual one.
    assert whole > len(models) // 2


@pytest.mark.parametrize(
    ("provider", "model", "usage"),
    [
        ("openai", None, {"input_tokens": 10}),
        ("openai", "gpt-4o", {}),
        ("openai", "gpt-4o", {"input_tokens": 0}),
        ("openai", "gpt-4o", {"input_tokens": -1}),
        ("openai", "gpt-4o", {"tokens": 5}),
        ("openai", "gpt-4o", {"input_tokens": 10, "cache_read_tokens": 20}),
        ("openai", "no-such-model-anywhere", {"input_tokens": 10}),
        ("openai", "gpt-4o", {"prompt_tokens": 10, "completion_tokens": 5}),
        ("openai", "gpt-4o", {"input_tokens": 10**30}),
    ],
)
def test_unpriced_and_odd_usage_match_pricer_price(
    provider: str, model: str | None, usage: dict[str, int]
) -> None:
    pricer = Pricer()
    assert pricer.batch("org").nanos(provider, model, usage, AT) == expected(
        pricer, "org", provider, model, usage
    )


def test_overrides_whole_and_fractional_rates_match(db: Database) -> None:
    with db.write() as conn:
        org = create_org(conn, "acme")
    # $2/M is 2,000 nano-units a token (integer path); $0.0375/M is 37.5 (Decimal path).
    create_override(
        db, org, provider="openai", model="gpt-4o", prices={"input": "2"}, effective_from=0
    )
    create_override(
        db,
        org,
        provider="openai",
        model="gpt-4o-mini",
        prices={"input": "0.0375"},
        effective_from=0,
    )
    pricer = Pricer(db)
    batch = pricer.batch(org)
    for model in ("gpt-4o", "gpt-4o-mini"):
        for tokens in (1, 3, 999_999, 1_000_001):
            usage = {"input_tokens": tokens, "output_tokens": 7}
            got = batch.nanos("openai", model, usage, AT)
            assert got == expected(pricer, org, "openai", model, usage)
            assert got.priced_by == "override"
    assert pricer._resolve(org, "openai", "gpt-4o", AT, None).nanos({"input_tokens": 1}) is not None
    assert (
        pricer._resolve(org, "openai", "gpt-4o-mini", AT, None).nanos({"input_tokens": 1}) is None
    )
    # Another tenant's batch never sees these overrides.
    other = pricer.batch("another-org").nanos("openai", "gpt-4o", {"input_tokens": 10}, AT)
    assert other.priced_by == "catalog"
