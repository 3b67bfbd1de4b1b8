"""Model names and the catalog: which catalog model a name means, and which names and catalog
models a tenant override's (provider, model pattern) covers.

Providers report dated snapshots (``gpt-4o-2024-08-06``) where a contract names the model
(``gpt-4o``). An override named without glob characters covers every name the catalog
resolves to the same model as its own name (its snapshots and aliases), and nothing else:
``gpt-4o`` covers ``gpt-4o-2024-08-06`` but not ``gpt-4o-mini``. A glob pattern (``*``,
``?``, ``[``) matches names as text, case-insensitively: ``gpt-4o*`` also matches
``gpt-4o-mini``, which is why ``margin prices set`` lists what a pattern covers first.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from functools import cache
from typing import Any, NamedTuple

from genai_prices import types as gp
from genai_prices.data_snapshot import get_snapshot

from margin.pricing.catalog import find_model
from margin.usage import canonical_provider

__all__ = ["CatalogModel", "covered_models", "covers", "is_glob", "resolve"]


class CatalogModel(NamedTuple):
    """A catalog model: its provider id, model id and the exact names it answers to."""

    provider: str
    model: str
    names: tuple[str, ...]


def is_glob(pattern: str) -> bool:
    """Whether a model pattern is a glob rather than a model name."""
    return any(c in pattern for c in "*?[")


@cache
def resolve(provider: str | None, model: str) -> tuple[str, str] | None:
    """The catalog (provider id, model id) a provider's model name means, or None when the
    catalog does not know it. With no provider, the model's name chooses one."""
    found = find_model(canonical_provider(provider), model)
    return None if isinstance(found, str) else (found[0].id, found[1].id)


def covers(provider_pattern: str, model_pattern: str, provider: str | None, model: str) -> bool:
    """Whether an override for ``provider_pattern`` (a provider id or ``*``) and
    ``model_pattern`` prices a record of ``model`` from ``provider``. A record without a
    provider is the catalog's provider of its model."""
    if provider_pattern != "*":
        own = canonical_provider(provider)
        if own is None:
            found = resolve(None, model)
            own = found[0] if found is not None else None
        if own != provider_pattern:
            return False
    if is_glob(model_pattern):
        return fnmatch.fnmatchcase(model.lower(), model_pattern.lower())
    if model.lower() == model_pattern.lower():
        return True
    meant = resolve(provider, model)
    return meant is not None and meant == resolve(provider, model_pattern)


def _names(clause: Any) -> Iterator[str]:
    if isinstance(clause, gp.ClauseEquals):
        yield clause.equals
    elif isinstance(clause, gp.ClauseOr):
        for inner in clause.or_:
            yield from _names(inner)


def _catalog_model(provider: gp.Provider, info: gp.ModelInfo) -> CatalogModel:
    names = dict.fromkeys([info.id, *_names(info.match)])
    return CatalogModel(provider.id, info.id, tuple(names))


def covered_models(provider_pattern: str, model_pattern: str) -> list[CatalogModel]:
    """Every catalog model whose records an override with these patterns prices (a glob:
    the models one of whose names it matches), sorted by provider and model."""
    providers = get_snapshot().providers
    if provider_pattern != "*":
        providers = [p for p in providers if p.id == provider_pattern]
    found: dict[tuple[str, str], CatalogModel] = {}
    glob = model_pattern.lower()
    for provider in providers:
        if is_glob(model_pattern):
            for info in provider.models:
                model = _catalog_model(provider, info)
                if any(fnmatch.fnmatchcase(n.lower(), glob) for n in model.names):
                    found[(provider.id, info.id)] = model
            continue
        resolved = find_model(provider.id, model_pattern)
        if not isinstance(resolved, str) and resolved[0].id == provider.id:
            found[(provider.id, resolved[1].id)] = _catalog_model(*resolved)
    return [found[key] for key in sorted(found)]
