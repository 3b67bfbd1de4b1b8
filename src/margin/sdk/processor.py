"""The span processor Margin adds to the tracer provider: it stamps every span started
inside a ``margin.trace`` scope — Margin's own and any other instrumentation's — with the
scope's customer, agent and metadata, and hands finished spans to delivery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from margin.sdk._context import (
    ATTR_AGENT,
    ATTR_CUSTOMER,
    ATTR_METADATA_PREFIX,
    PAID_AGENT,
    PAID_CUSTOMER,
    TraceScope,
    scope_var,
)
from margin.sdk.delivery import Delivery
from margin.sdk.payloads import ATTR_STORE_PROMPT

__all__ = ["MarginSpanProcessor", "attributes_for", "scope_attributes"]


def _flatten(prefix: str, value: Any, out: dict[str, AttributeValue]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    elif isinstance(value, str | bool | int | float):
        out[prefix] = value
    else:
        out[prefix] = orjson.dumps(value, default=str).decode()


def scope_attributes(scope: TraceScope) -> dict[str, AttributeValue]:
    """The attributes every span inside ``scope`` carries."""
    attributes: dict[str, AttributeValue] = {
        ATTR_CUSTOMER: scope.customer,
        PAID_CUSTOMER: scope.customer,
    }
    if scope.agent is not None:
        attributes[ATTR_AGENT] = scope.agent
        attributes[PAID_AGENT] = scope.agent
    for key, value in scope.metadata.items():
        _flatten(f"{ATTR_METADATA_PREFIX}{key}", value, attributes)
    if scope.store_prompt:
        attributes[ATTR_STORE_PROMPT] = True
    return attributes


def attributes_for(scope: TraceScope) -> dict[str, AttributeValue]:
    """``scope_attributes(scope)``, built once per scope object (``margin.trace`` shares the
    scope objects of equal scopes); do not mutate it."""
    memo: dict[str, AttributeValue] | None = scope.__dict__.get("_margin_attributes")
    if memo is None:
        memo = scope_attributes(scope)
        object.__setattr__(scope, "_margin_attributes", memo)
    return memo


def _stamp(span: Span, attributes: dict[str, AttributeValue]) -> None:
    # The public set_attributes re-validates every value on every span (about half of
    # Margin's per-span cost); ours were built valid once per scope, so when the SDK's
    # attribute container is the one we know, merge them directly and keep its size limit.
    bounded = getattr(span, "_attributes", None)
    if (
        type(bounded) is BoundedAttributes
        and not bounded._immutable
        and (bounded.maxlen is None or len(bounded._dict) + len(attributes) <= bounded.maxlen)
    ):
        with bounded._lock:
            bounded._dict.update(attributes)
        return
    span.set_attributes(attributes)


class MarginSpanProcessor(SpanProcessor):
    """Stamps scope attributes at start; queues spans of Margin scopes at end.

    One instance is added to a provider once; ``delivery`` is swapped by ``configure``
    because an SDK provider cannot remove a processor."""

    def __init__(self) -> None:
        self.delivery: Delivery | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        scope = scope_var.get()
        if scope is not None and self.delivery is not None:
            _stamp(span, attributes_for(scope))

    def on_end(self, span: ReadableSpan) -> None:
        delivery = self.delivery
        if delivery is None:
            return
        # Only spans of a Margin scope leave the process: the rest belong to the user's
        # own tracing backends, not to Margin.
        attributes = span.attributes
        if attributes and ATTR_CUSTOMER in attributes:
            delivery.submit("traces", span)

    def shutdown(self) -> None:
        delivery, self.delivery = self.delivery, None
        if delivery is not None:
            delivery.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        delivery = self.delivery
        return True if delivery is None else delivery.flush(timeout_millis / 1000)
