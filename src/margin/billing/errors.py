"""The error billing services raise for a request they refuse."""

from __future__ import annotations

from margin._refusal import Refusal

__all__ = ["BillingError"]


class BillingError(Refusal):
    """A refused billing change or lookup (plans, orders, invoices, meters)."""
