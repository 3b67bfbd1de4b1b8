"""The model price catalog: genai-prices' bundled data (pinned, never fetched at run time),
resolved to a compiled :class:`PriceSheet` for a provider, model, instant and request context."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib.metadata import version

from genai_prices import types as gp
from genai_prices.data_snapshot import get_snapshot
from genai_prices.units import _get_registry

from margin._time import from_micros
from margin.pricing.calculator import PriceSheet, Unit, compile_terms
from margin.usage import canonical_provider

__all__ = ["CATALOG_VERSION", "catalog_sheet", "find_model"]

CATALOG_VERSION = f"genai-prices@{version('genai-prices')}"

# genai-prices usage key → the canonical usage key that counts it. Units absent here (e.g.
# per-modality cache reads) have no canonical count; they still take part in leaf subtraction.
_SOURCES: dict[str, str] = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "cache_write_5m_tokens": "cache_write_5m_tokens",
    "cache_write_1h_tokens": "cache_write_1h_tokens",
    "output_reasoning_tokens": "reasoning_tokens",
    "input_audio_tokens": "input_audio_tokens",
    "output_audio_tokens": "output_audio_tokens",
    "input_image_tokens": "input_image_tokens",
    "output_image_tokens": "output_image_tokens",
    "input_video_tokens": "input_video_tokens",
    "output_video_tokens": "output_video_tokens",
    "audio_seconds": "audio_seconds",
    "input_characters": "characters",
    "input_document_pages": "pages",
    "web_searches": "web_searches",
    "requests": "*request",
}


def _model_refs(model: str) -> list[str]:
    """The model id as given, then without routing prefixes (Vertex ``publishers/…/models/``,
    ``models/``, ``openai/`` when the provider is not a router)."""
    refs = [model]
    if "/" in model:
        refs.append(model.rsplit("/", 1)[1])
    return refs


@cache
def find_model(provider: str | None, model: str) -> tuple[gp.Provider, gp.ModelInfo] | str:
    """The catalog provider and model for a reference, or the reason there is none."""
    snapshot = get_snapshot()
    pid = canonical_provider(provider)
    candidates = [pid]
    if pid is not None and not _provider_known(pid):
        # A gateway or unknown provider name: let the model id choose the provider.
        candidates = [None]
    for ref in _model_refs(model):
        for candidate in candidates:
            try:
                return snapshot.find_provider_model(ref, None, candidate, None)
            except LookupError:
                continue
    return f"unknown model {model!r} for provider {provider!r}"


@cache
def _provider_known(pid: str) -> bool:
    try:
        get_snapshot().find_provider(None, pid, None)
    except LookupError:
        return False
    return True


def _registry_unit(usage_key: str, source: str | None) -> Unit:
    u = _get_registry().units[usage_key]
    return Unit(usage_key, frozenset(u.dimensions.items()), source, u.per)


def time_of_day_sensitive(model: gp.ModelInfo) -> bool:
    """Whether the model's price changes within a day (off-peak pricing)."""
    constraints = (
        [] if isinstance(model.prices, gp.ModelPrice) else [c.constraint for c in model.prices]
    )
    constraints += [v.constraint for v in model.price_variants or ()]
    return any(isinstance(c, gp.TimeOfDateConstraint) for c in constraints)


def _resolve(
    model: gp.ModelInfo, at: datetime, context: Mapping[str, str] | None, use_variants: bool
) -> tuple[gp.ModelPrice, str]:
    """Mirror of ``ModelInfo.get_prices`` that also says which dated price and variants won."""
    suffix = ""
    if isinstance(model.prices, gp.ModelPrice):
        standard = model.prices
    else:
        standard = model.prices[0].prices
        for conditional in reversed(model.prices):
            if conditional.constraint is None or conditional.constraint.active(at):
                standard = conditional.prices
                if isinstance(conditional.constraint, gp.StartDateConstraint):
                    suffix = f"@{conditional.constraint.start_date.isoformat()}"
                elif conditional.constraint is not None:
                    c = conditional.constraint
                    suffix = f"@{c.start_time:%H:%M}-{c.end_time:%H:%M}"
                break
    if not context or not use_variants:
        return standard, suffix
    overrides: dict[str, Decimal | gp.TieredPrices] = {}
    matched: list[str] = []
    for variant in model.price_variants or ():
        if variant.constraint is not None and not variant.constraint.active(at):
            continue
        if not all(context.get(k) == v for k, v in variant.when.items()):
            continue
        matched.extend(f"{k}={v}" for k, v in sorted(variant.when.items()))
        for key, price in variant.prices.__dict__.items():
            if price is not None:
                overrides.setdefault(key, price)
    if not overrides:
        return standard, suffix
    resolved = gp.ModelPrice(**{**standard.__dict__, **overrides})
    return resolved, f"{suffix}[{','.join(dict.fromkeys(matched))}]"


def catalog_sheet(
    provider: str | None, model: str, at_us: int, context: Mapping[str, str] | None
) -> PriceSheet:
    """The catalog price of ``model`` at ``at_us`` (µs) for a request ``context``."""
    found = find_model(provider, model)
    if isinstance(found, str):
        return PriceSheet("unpriced", "USD", None, reason=found)
    prov, info = found
    at = from_micros(at_us)
    # genai-prices ignores variants for a model reached through a fallback provider.
    own = any(info is m for m in prov.models)
    prices, suffix = _resolve(info, at, context, own)
    registry = _get_registry()
    price_keys = {u.price_key: k for k, u in registry.units.items()}
    priced_keys = {key for key, value in prices.__dict__.items() if value is not None}
    sources = dict(_SOURCES)
    if "input_audio_hours" in priced_keys and "audio_hours" not in priced_keys:
        # Canonical usage has one audio duration; bill it where the model prices durations.
        sources["input_audio_seconds"] = "audio_seconds"
    entries = []
    for price_key, value in prices.__dict__.items():
        if value is None or price_key not in price_keys:
            continue
        usage_key = price_keys[price_key]
        unit = _registry_unit(usage_key, sources.get(usage_key))
        if isinstance(value, gp.TieredPrices):
            tiers = tuple((t.start, t.price) for t in value.tiers)
            entries.append((unit, value.base, tiers))
        else:
            entries.append((unit, value, ()))
    ref = f"{CATALOG_VERSION}:{prov.id}/{info.id}{suffix}"
    volatility = 1 if time_of_day_sensitive(info) else 0
    return PriceSheet("catalog", "USD", ref[:256], compile_terms(entries), volatility=volatility)
