"""The one error a service function raises for a request it refuses.

Billing and control services raise it (as ``BillingError`` and ``ControlError``); the API
answers it as problem+json with its status and field, the CLI prints it on one line.
"""

from __future__ import annotations

__all__ = ["Refusal"]


class Refusal(ValueError):
    """A refused change or lookup: ``status`` is the HTTP status a route answers with,
    ``field`` names the input at fault."""

    def __init__(self, status: int, detail: str, field: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field
