"""Price book: turns canonical usage into money. (Placeholder until the pricing engine lands:
it prices nothing, and says so — a record is stored ``unpriced``, never as $0.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

__all__ = ["PriceResult", "Pricer"]


@dataclass(frozen=True)
class PriceResult:
    """The outcome of pricing one usage record."""

    amount: Decimal | None
    currency: str
    priced_by: Literal["catalog", "override", "unpriced"]
    price_ref: str | None = None
    unpriced_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


class Pricer:
    """Prices usage for an organization at a point in time."""

    def __init__(self, db: Any = None) -> None:
        self.db = db

    def price(
        self,
        org_id: str,
        provider: str | None,
        model: str | None,
        usage: Mapping[str, Any],
        at_us: int,
        context: Mapping[str, str] | None = None,
    ) -> PriceResult:
        return PriceResult(
            amount=None,
            currency="USD",
            priced_by="unpriced",
            unpriced_reason="pricing engine not installed",
            usage=dict(usage),
        )

    def invalidate(self, org_id: str | None = None) -> None:
        """Forget cached resolutions (after a tenant price override changes)."""
