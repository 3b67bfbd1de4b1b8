"""The error control services raise for a request they refuse."""

from __future__ import annotations

from margin._refusal import Refusal

__all__ = ["ControlError"]


class ControlError(Refusal):
    """A refused control change or lookup (features, credits, alerts, webhooks)."""
