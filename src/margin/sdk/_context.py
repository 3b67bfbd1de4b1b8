"""The active Margin trace context, shared by tracing, signals and provider wrappers.

A ``TraceScope`` is pushed by ``margin.trace(...)`` and read by everything that records
inside it. It lives in a ContextVar, so asyncio tasks and threads started with a copied
context see their own scope and never another's.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TraceScope", "current_scope", "scope_var"]

# Span attribute names Margin writes (and reads on the server). Paid's names are read too.
ATTR_CUSTOMER = "margin.customer.external_id"
ATTR_AGENT = "margin.agent.external_id"
ATTR_METADATA_PREFIX = "margin.metadata."
ATTR_SIGNAL = "margin.signal"
PAID_CUSTOMER = "external_customer_id"
PAID_AGENT = "external_agent_id"


@dataclass(frozen=True)
class TraceScope:
    """Who the work inside a ``margin.trace`` block is for, and how to record it."""

    customer: str
    agent: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    store_prompt: bool = False
    #: A distributed tracing token (a 32-hex-digit trace id) shared across processes.
    token: str | None = None


scope_var: ContextVar[TraceScope | None] = ContextVar("margin_trace_scope", default=None)


def current_scope() -> TraceScope | None:
    """The innermost active ``margin.trace`` scope, or None outside any."""
    return scope_var.get()
