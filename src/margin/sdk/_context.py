"""The active Margin trace context, shared by tracing, signals and provider wrappers.

A ``TraceScope`` is pushed by ``margin.trace(...)`` and read by everything that records
inside it. It lives in a ContextVar, so asyncio tasks and threads started with a copied
context see their own scope and never another's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

__all__ = [
    "TraceScope",
    "current_scope",
    "otel_attach",
    "otel_current",
    "otel_detach",
    "otel_reset",
    "scope_var",
]

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


# OpenTelemetry's context API is three Python calls deep around one ContextVar. With its
# default runtime context, Margin's hot paths use that ContextVar directly (same values, same
# tokens); with any other runtime context, they go through the API.
_runtime_context = getattr(otel_context, "_RUNTIME_CONTEXT", None)
_log = logging.getLogger("opentelemetry.context")

if type(_runtime_context) is ContextVarsRuntimeContext:
    _otel_var: ContextVar[Context] = _runtime_context._current_context
    otel_current: Callable[[], Context] = _otel_var.get
    otel_attach: Callable[[Context], object] = _otel_var.set
    #: ``otel_detach`` without its logging: raises what ``ContextVar.reset`` raises.
    otel_reset: Callable[[Any], None] = _otel_var.reset

    def otel_detach(token: object) -> None:
        """``opentelemetry.context.detach``: a failure is logged, never raised."""
        try:
            _otel_var.reset(token)  # type: ignore[arg-type]
        except Exception:
            _log.exception("Failed to detach context")

else:  # pragma: no cover - another runtime context was configured
    otel_current = otel_context.get_current
    otel_attach = otel_context.attach
    otel_reset = otel_context.detach

    def otel_detach(token: object) -> None:
        """``opentelemetry.context.detach``."""
        otel_context.detach(token)  # type: ignore[arg-type]
