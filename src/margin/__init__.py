"""Margin: cost, revenue and margin per customer, agent and outcome for AI agents.

The SDK surface: ``trace`` and ``signal`` record work inside your agent and deliver it in
the background; ``Margin`` / ``AsyncMargin`` are the REST clients. Importing this package
needs no server dependency."""

from __future__ import annotations

import importlib
from typing import Any

from margin._version import __version__
from margin.sdk.client import AsyncMargin, Margin
from margin.sdk.entitlements import Check, EntitlementExceeded, check, configure_checks
from margin.sdk.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MarginError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from margin.sdk.runtime import configure, delivery_stats, flush, shutdown
from margin.sdk.signals import signal
from margin.sdk.tracing import new_trace_token, trace

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncMargin",
    "AuthenticationError",
    "BadRequestError",
    "Check",
    "ConflictError",
    "EntitlementExceeded",
    "Margin",
    "MarginError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "__version__",
    "autoinstrument",
    "check",
    "configure",
    "configure_checks",
    "delivery_stats",
    "flush",
    "instrument_anthropic",
    "instrument_bedrock",
    "instrument_gemini",
    "instrument_langchain",
    "instrument_llamaindex",
    "instrument_mistral",
    "instrument_openai",
    "instrument_openai_agents",
    "new_trace_token",
    "shutdown",
    "signal",
    "trace",
]

# Provider instrumentation lives in its own module and is imported on first use, so a
# problem there (or a missing optional provider) never breaks ``import margin``.
_LAZY = frozenset(
    {
        "autoinstrument",
        "instrument_anthropic",
        "instrument_bedrock",
        "instrument_gemini",
        "instrument_langchain",
        "instrument_llamaindex",
        "instrument_mistral",
        "instrument_openai",
        "instrument_openai_agents",
    }
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module("margin.sdk.instrument")
        return getattr(module, name)
    raise AttributeError(f"module 'margin' has no attribute {name!r}")
