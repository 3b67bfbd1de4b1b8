"""Records priced per second: Margin's ``Pricer.price`` beside ``genai_prices.calc_price``.

Both price the same records (about 20 models across providers, varied usage with cache,
reasoning, tiers, batch and dated prices) in the same run; amounts must be identical.
Run: ``.venv/bin/python bench/pricing.py [--records N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices

from margin._time import to_micros
from margin.pricing import Pricer

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)
EARLY = datetime(2025, 5, 1, 12, tzinfo=UTC)

# (provider, model, canonical usage, when, context)
CASES: list[tuple[str, str, dict[str, int], datetime, dict[str, str] | None]] = [
    (
        "openai",
        "gpt-4o",
        {"input_tokens": 1200, "cache_read_tokens": 1000, "output_tokens": 300},
        AT,
        None,
    ),
    ("openai", "gpt-4o-mini-2024-07-18", {"input_tokens": 5000, "output_tokens": 800}, AT, None),
    (
        "openai",
        "o3",
        {"input_tokens": 20_000, "output_tokens": 4000, "reasoning_tokens": 3000},
        AT,
        None,
    ),
    (
        "openai",
        "o3",
        {"input_tokens": 20_000, "output_tokens": 4000, "reasoning_tokens": 3000},
        EARLY,
        None,
    ),
    (
        "openai",
        "gpt-4.1",
        {"input_tokens": 90_000, "cache_read_tokens": 60_000, "output_tokens": 2000},
        AT,
        None,
    ),
    (
        "openai",
        "gpt-5",
        {"input_tokens": 3000, "output_tokens": 9000, "reasoning_tokens": 8000},
        AT,
        None,
    ),
    (
        "openai",
        "gpt-5-mini",
        {"input_tokens": 3000, "output_tokens": 1000},
        AT,
        {"processing": "batch"},
    ),
    ("openai", "text-embedding-3-small", {"input_tokens": 8000}, AT, None),
    (
        "openai",
        "gpt-image-1",
        {"input_tokens": 50, "output_tokens": 4160, "output_image_tokens": 4160},
        AT,
        None,
    ),
    (
        "anthropic",
        "claude-sonnet-4-5",
        {
            "input_tokens": 12_000,
            "cache_read_tokens": 8000,
            "cache_write_tokens": 2000,
            "cache_write_5m_tokens": 1500,
            "cache_write_1h_tokens": 500,
            "output_tokens": 700,
        },
        AT,
        None,
    ),
    (
        "anthropic",
        "claude-haiku-4-5",
        {"input_tokens": 4000, "output_tokens": 500},
        AT,
        {"processing": "batch"},
    ),
    ("anthropic", "claude-opus-4-1", {"input_tokens": 2500, "output_tokens": 900}, AT, None),
    (
        "google",
        "gemini-2.5-pro",
        {"input_tokens": 250_000, "output_tokens": 3000, "reasoning_tokens": 1000},
        AT,
        None,
    ),
    (
        "google",
        "gemini-2.5-pro",
        {"input_tokens": 50_000, "cache_read_tokens": 20_000, "output_tokens": 3000},
        AT,
        None,
    ),
    ("google", "gemini-2.5-flash", {"input_tokens": 7000, "output_tokens": 1200}, AT, None),
    ("mistral", "mistral-large-latest", {"input_tokens": 6000, "output_tokens": 1500}, AT, None),
    (
        "aws",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        {"input_tokens": 3000, "output_tokens": 400},
        AT,
        None,
    ),
    ("azure", "gpt-4o", {"input_tokens": 2000, "output_tokens": 600}, AT, None),
    (
        "deepseek",
        "deepseek-chat",
        {"input_tokens": 10_000, "cache_read_tokens": 4000, "output_tokens": 1000},
        AT,
        None,
    ),
    ("x-ai", "grok-4", {"input_tokens": 5000, "output_tokens": 2000}, AT, None),
    ("groq", "llama-3.3-70b-versatile", {"input_tokens": 1500, "output_tokens": 300}, AT, None),
]


def _genai_usage(usage: dict[str, int]) -> genai_prices.Usage:
    keys = {"reasoning_tokens": "output_reasoning_tokens"}
    return genai_prices.Usage(**{keys.get(k, k): v for k, v in usage.items()})


def _run(fn: Any, records: list[Any]) -> tuple[float, list[Decimal | None]]:
    start = time.perf_counter()
    out = fn(records)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    records = [CASES[i % len(CASES)] for i in range(args.records)]
    margin_records = [(p, m, u, to_micros(t), c) for p, m, u, t, c in records]
    genai_records = [(p, m, _genai_usage(u), t, c) for p, m, u, t, c in records]
    pricer = Pricer()

    price = pricer.price
    calc = genai_prices.calc_price

    def margin_price(rs: list[Any]) -> list[Decimal | None]:
        return [price("org_bench", p, m, u, t, c).amount for p, m, u, t, c in rs]

    def genai_price(rs: list[Any]) -> list[Decimal | None]:
        return [
            calc(u, m, provider_id=p, genai_request_timestamp=t, price_context=c).total_price
            for p, m, u, t, c in rs
        ]

    # Warm both caches (model lookup, resolved plans) before timing: the claim is the hit path.
    _run(margin_price, margin_records[: len(CASES)])
    _run(genai_price, genai_records[: len(CASES)])
    margin_us: list[float] = []
    genai_us: list[float] = []
    for _ in range(args.repeats):
        elapsed, mine = _run(margin_price, margin_records)
        margin_us.append(elapsed / len(records) * 1e6)
        elapsed, theirs = _run(genai_price, genai_records)
        genai_us.append(elapsed / len(records) * 1e6)
        assert mine == theirs, [
            (r[:2], a, b) for r, a, b in zip(records, mine, theirs, strict=True) if a != b
        ][:5]
    assert all(a is not None for a in mine)
    m, g = statistics.median(margin_us), statistics.median(genai_us)
    print(f"records per run: {len(records)} ({len(CASES)} distinct cases), repeats: {args.repeats}")
    print(f"margin Pricer.price       : {m:8.2f} µs/record median  ({1e6 / m:>10,.0f} records/s)")
    print(f"genai_prices.calc_price   : {g:8.2f} µs/record median  ({1e6 / g:>10,.0f} records/s)")
    print(f"ratio                     : {g / m:8.1f}× faster; amounts identical on all records")
    print(f"target ≤ 3 µs/record      : {'met' if m <= 3.0 else 'NOT met on this machine'}")
    print(f"target ≥ 25× calc_price   : {'met' if g / m >= 25 else 'NOT met in this run'}")


if __name__ == "__main__":
    main()
