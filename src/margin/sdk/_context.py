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

import orjson
from opentelemetry.util.types import AttributeValue

from margin import semconv

__all__ = ["TraceScope", "current_scope", "scope_var"]


def _flatten(prefix: str, value: Any, out: dict[str, AttributeValue]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    elif isinstance(value, str | bool | int | float):
        out[prefix] = value
    else:
        out[prefix] = orjson.dumps(value, default=str).decode()


@dataclass(eq=False)
class TraceScope:
    """Who the work inside a ``margin.trace`` block is for, and how to record it. Treat it
    as immutable."""

    customer: str
    agent: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    store_prompt: bool = False
    #: A distributed tracing token (a 32-hex-digit trace id) shared across processes.
    token: str | None = None
    #: The customer's unit (its external id) the work is for, if any.
    unit: str | None = None
    #: The attributes every span inside this scope carries (do not mutate).
    attributes: dict[str, AttributeValue] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        attributes: dict[str, AttributeValue] = {
            semconv.CUSTOMER: self.customer,
            semconv.PAID_CUSTOMER: self.customer,
        }
        if self.unit is not None:
            attributes[semconv.CUSTOMER_UNIT] = self.unit
        if self.agent is not None:
            attributes[semconv.AGENT] = self.agent
            attributes[semconv.PAID_AGENT] = self.agent
        for key, value in self.metadata.items():
            _flatten(f"{semconv.METADATA_PREFIX}{key}", value, attributes)
        if self.store_prompt:
            attributes[semconv.STORE_PROMPT] = True
        self.attributes = attributes


scope_var: ContextVar[TraceScope | None] = ContextVar("margin_trace_scope", default=None)


def current_scope() -> TraceScope | None:
    """The innermost active ``margin.trace`` scope, or None outside any."""
    return scope_var.get()
