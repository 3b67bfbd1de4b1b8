"""The one error control services raise for a request they refuse."""

from __future__ import annotations

__all__ = ["ControlError"]


class ControlError(ValueError):
    """A refused change or lookup: ``status`` is the HTTP status a route answers with,
    ``field`` names the input at fault."""

    def __init__(self, status: int, detail: str, field: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field
