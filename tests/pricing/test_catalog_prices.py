"""Catalog pricing: exact amounts, each worked by hand from genai-prices 0.2.3's bundled
per-million-token prices (quoted beside each case)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest

from margin._time import to_micros
from margin.pricing import Pricer, PriceResult
from margin.pricing.catalog import CATALOG_VERSION

AT = to_micros(datetime(2026, 11, 1, 12, tzinfo=UTC))
REF = CATALOG_VERSION + ":"

# (id, provider, model, usage, when, context, expected amount, expected price_ref)
CASES: list[tuple[str, str, str, dict[str, int], int, dict[str, str] | None, str, str]] = [
    (
        # gpt-5: input $1.25, cache read $0.125, output $10 per 1M. Reasoning is inside output.
        # (12000 - 10000) × 1.25 + 10000 × 0.125 + 3000 × 10 = 2500 + 1250 + 30000 = 33750 / 1M
        "openai cached + reasoning",
        "openai",
        "gpt-5-2025-08-07",
        {
            "input_tokens": 12000,
            "cache_read_tokens": 10000,
            "output_tokens": 3000,
            "reasoning_tokens": 2000,
        },
        AT,
        None,
        "0.03375",
        "openai/gpt-5",
    ),
    (
        # claude-sonnet-4-5: input $3, cache read $0.3, cache write (5 min) $3.75, 1 h write $6,
        # output $15. Uncached input 12000 - 8000 - 2000 = 2000 × 3 = 6000; 8000 × 0.3 = 2400;
        # 1500 × 3.75 = 5625; 500 × 6 = 3000; 700 × 15 = 10500 → 27525 / 1M
        "anthropic cache read + 5m and 1h writes",
        "anthropic",
        "claude-sonnet-4-5-20250929",
        {
            "input_tokens": 12000,
            "cache_read_tokens": 8000,
            "cache_write_tokens": 2000,
            "cache_write_5m_tokens": 1500,
            "cache_write_1h_tokens": 500,
            "output_tokens": 700,
        },
        AT,
        None,
        "0.027525",
        "anthropic/claude-sonnet-4-5",
    ),
    (
        # gemini-2.5-pro ≤ 200k input: input $1.25, output $10. 100000 × 1.25 + 2000 × 10 = 145000 / 1M
        "gemini 2.5 pro below 200k",
        "google",
        "gemini-2.5-pro",
        {"input_tokens": 100_000, "output_tokens": 2000},
        AT,
        None,
        "0.145",
        "google/gemini-2.5-pro",
    ),
    (
        # exactly 200000 is not above the threshold: 200000 × 1.25 + 2000 × 10 = 270000 / 1M
        "gemini 2.5 pro at 200k",
        "google",
        "gemini-2.5-pro",
        {"input_tokens": 200_000, "output_tokens": 2000},
        AT,
        None,
        "0.27",
        "google/gemini-2.5-pro",
    ),
    (
        # > 200k input reprices every token (cliff): input $2.5, output $15.
        # 300000 × 2.5 + 2000 × 15 = 750000 + 30000 = 780000 / 1M
        "gemini 2.5 pro above 200k",
        "gcp.gemini",
        "gemini-2.5-pro",
        {"input_tokens": 300_000, "output_tokens": 2000},
        AT,
        None,
        "0.78",
        "google/gemini-2.5-pro",
    ),
    (
        # claude-haiku-4-5 batch (from 2026-10-14): input $0.5, output $2.5: 1M + 1M = 3.
        "batch request",
        "anthropic",
        "claude-haiku-4-5",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        AT,
        {"processing": "batch"},
        "3",
        "anthropic/claude-haiku-4-5[processing=batch]",
    ),
    (
        # standard claude-haiku-4-5: input $1, output $5 → 6.
        "same request not batched",
        "anthropic",
        "claude-haiku-4-5",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        AT,
        None,
        "6",
        "anthropic/claude-haiku-4-5",
    ),
    (
        # gpt-image-1: text input $5, output $40 (image output tokens have no own rate).
        # 50 × 5 + 4160 × 40 = 250 + 166400 = 166650 / 1M
        "image generation",
        "openai",
        "gpt-image-1",
        {"input_tokens": 50, "output_tokens": 4160, "output_image_tokens": 4160, "images": 1},
        AT,
        None,
        "0.16665",
        "openai/gpt-image-1",
    ),
    (
        # gpt-image-1 edit: image input $10, text input $5, output $40.
        # 50 × 5 + 1000 × 10 + 4160 × 40 = 250 + 10000 + 166400 = 176650 / 1M
        "image edit with image input",
        "openai",
        "gpt-image-1",
        {"input_tokens": 1050, "input_image_tokens": 1000, "output_tokens": 4160},
        AT,
        None,
        "0.17665",
        "openai/gpt-image-1",
    ),
    (
        # text-embedding-3-small: $0.02 per 1M. 8000 × 0.02 = 160 / 1M
        "embedding",
        "openai",
        "text-embedding-3-small",
        {"input_tokens": 8000},
        AT,
        None,
        "0.00016",
        "openai/text-embedding-3-small",
    ),
    (
        # o3 before its 2025-06-10 price cut: input $10, output $40 → 1M + 1M = 50.
        "o3 before the price change",
        "openai",
        "o3",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        to_micros(datetime(2025, 5, 1, tzinfo=UTC)),
        None,
        "50",
        "openai/o3",
    ),
    (
        # o3 from 2025-06-10: input $2, output $8 → 10.
        "o3 after the price change",
        "openai",
        "o3",
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000},
        to_micros(datetime(2025, 7, 1, tzinfo=UTC)),
        None,
        "10",
        "openai/o3@2025-06-10",
    ),
    (
        # Bedrock id resolves to Claude 3.5 Sonnet: input $3, cache read $0.3, cache write $3.75,
        # output $15. (4000 - 2500 - 500) × 3 + 2500 × 0.3 + 500 × 3.75 + 400 × 15
        # = 3000 + 750 + 1875 + 6000 = 11625 / 1M
        "bedrock alias",
        "aws.bedrock",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        {
            "input_tokens": 4000,
            "cache_read_tokens": 2500,
            "cache_write_tokens": 500,
            "output_tokens": 400,
        },
        AT,
        None,
        "0.011625",
        "aws/regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    (
        # Vertex publisher path → gemini-2.5-flash: input $0.3, output $2.5.
        # 10000 × 0.3 + 1000 × 2.5 = 3000 + 2500 = 5500 / 1M
        "vertex model path",
        "gcp.vertex_ai",
        "publishers/google/models/gemini-2.5-flash",
        {"input_tokens": 10_000, "output_tokens": 1000},
        AT,
        None,
        "0.0055",
        "google/gemini-2.5-flash",
    ),
    (
        # dated OpenAI id → gpt-4o-mini: input $0.15, output $0.6. 10000 × 0.15 + 1000 × 0.6 = 2100 / 1M
        "dated model id",
        "openai",
        "gpt-4o-mini-2024-07-18",
        {"input_tokens": 10_000, "output_tokens": 1000},
        AT,
        None,
        "0.0021",
        "openai/gpt-4o-mini",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_catalog_amounts(case: tuple[Any, ...]) -> None:
    _, provider, model, usage, at_us, context, amount, ref = case
    result = Pricer().price("org_1", provider, model, usage, at_us, context)
    assert result.priced_by == "catalog"
    assert result.amount == Decimal(amount)
    assert result.currency == "USD"
    assert result.price_ref == REF + ref
    assert result.unpriced_reason is None
    assert result.usage == usage


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_catalog_amounts_equal_genai_prices(case: tuple[Any, ...]) -> None:
    _, provider, model, usage, at_us, context, amount, _ = case
    names = {"reasoning_tokens": "output_reasoning_tokens"}
    gp_usage = genai_prices.Usage(**{names.get(k, k): v for k, v in usage.items() if k != "images"})
    provider_id = {"aws.bedrock": "aws", "gcp.gemini": "google", "gcp.vertex_ai": "google"}.get(
        provider, provider
    )
    model_ref = model.rsplit("/", 1)[-1]
    when = datetime.fromtimestamp(at_us / 1e6, UTC)
    reference = genai_prices.calc_price(
        gp_usage,
        model_ref,
        provider_id=provider_id,
        genai_request_timestamp=when,
        price_context=context,
    )
    assert reference.total_price == Decimal(amount)


def test_batch_variant_not_yet_active_prices_standard() -> None:
    before = to_micros(datetime(2026, 10, 1, tzinfo=UTC))
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    result = Pricer().price(
        "org_1", "anthropic", "claude-haiku-4-5", usage, before, {"processing": "batch"}
    )
    assert result.amount == Decimal(6)


@pytest.mark.parametrize(
    ("provider", "model", "usage", "reason"),
    [
        (
            "openai",
            "gpt-nope",
            {"input_tokens": 1},
            "unknown model 'gpt-nope' for provider 'openai'",
        ),
        ("openai", None, {"input_tokens": 1}, "model is required"),
        ("openai", "gpt-4o", {}, "missing usage"),
        ("openai", "gpt-4o", {"input_tokens": 0}, "missing usage"),
        (
            "openai",
            "gpt-4o",
            {"input_tokens": -3},
            "usage 'input_tokens' must be a non-negative integer",
        ),
        ("openai", "gpt-4o", {"input_tokenz": 3}, "unknown usage key 'input_tokenz'"),
        (
            "openai",
            "gpt-4o",
            {"input_tokens": 10, "cache_read_tokens": 20},
            "invalid usage: nested counts exceed their total for input_tokens",
        ),
    ],
)
def test_unpriced_with_reason_never_zero(
    provider: str, model: str | None, usage: dict[str, Any], reason: str
) -> None:
    result = Pricer().price("org_1", provider, model, usage, AT)
    assert result == PriceResult(
        amount=None,
        currency="USD",
        priced_by="unpriced",
        price_ref=None,
        unpriced_reason=reason,
        usage=result.usage,
    )


def test_provider_native_usage_block_is_normalized() -> None:
    # Anthropic-native block: input 2000 excludes 8000 read + 2000 written (claude-haiku-4-5:
    # input $1, cache read $0.1, 5-min write $1.25, output $5).
    # 2000 × 1 + 8000 × 0.1 + 2000 × 1.25 + 100 × 5 = 2000 + 800 + 2500 + 500 = 5800 / 1M
    usage = {
        "input_tokens": 2000,
        "cache_read_input_tokens": 8000,
        "cache_creation_input_tokens": 2000,
        "output_tokens": 100,
    }
    result = Pricer().price("org_1", "anthropic", "claude-haiku-4-5", usage, AT)
    assert result.amount == Decimal("0.0058")
    assert result.usage == {
        "input_tokens": 12000,
        "cache_read_tokens": 8000,
        "cache_write_tokens": 2000,
        "output_tokens": 100,
    }


def test_off_peak_prices_follow_time_of_day() -> None:
    pricer = Pricer()
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    day = datetime(2026, 11, 1, tzinfo=UTC)
    amounts = {}
    for hour in (2, 12, 20):
        at = day.replace(hour=hour)
        mine = pricer.price("org_1", "deepseek", "deepseek-chat", usage, to_micros(at)).amount
        theirs = genai_prices.calc_price(
            genai_prices.Usage(**usage),
            "deepseek-chat",
            provider_id="deepseek",
            genai_request_timestamp=at,
        ).total_price
        assert mine == theirs
        amounts[hour] = mine
    assert amounts[2] != amounts[20]


def test_paid_cost_data_attributes_as_usage() -> None:
    # Paid's costData.attributes passed as the usage block (gpt-4o: input $2.5, cache read
    # $1.25, output $10): 200 × 2.5 + 1000 × 1.25 + 300 × 10 = 500 + 1250 + 3000 = 4750 / 1M
    attributes = {
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cached_input_tokens": 1000,
    }
    result = Pricer().price("org_1", "openai", "gpt-4o", attributes, AT)
    assert (result.priced_by, result.amount) == ("catalog", Decimal("0.00475"))
    assert result.usage == {"input_tokens": 1200, "cache_read_tokens": 1000, "output_tokens": 300}
