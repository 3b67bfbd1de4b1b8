"""Price book: turns canonical usage into money, explainably.

``Pricer.price`` applies a tenant override, else the genai-prices catalog, else reports the
record ``unpriced`` with a reason (never a silent zero). Override storage and re-pricing are
plain functions taking ``(db, org_id, …)`` for the API and CLI to call.
"""

from __future__ import annotations

from margin.pricing.catalog import CATALOG_VERSION
from margin.pricing.model_names import CatalogModel, covered_models
from margin.pricing.overrides import (
    KINDS,
    OverrideError,
    PriceOverride,
    check_override,
    create_override,
    delete_override,
    get_override,
    list_overrides,
    store_override,
)
from margin.pricing.pricer import Pricer, PriceResult
from margin.pricing.reprice import Repriced, reprice

__all__ = [
    "CATALOG_VERSION",
    "KINDS",
    "CatalogModel",
    "OverrideError",
    "PriceOverride",
    "PriceResult",
    "Pricer",
    "Repriced",
    "check_override",
    "covered_models",
    "create_override",
    "delete_override",
    "get_override",
    "list_overrides",
    "reprice",
    "store_override",
]
