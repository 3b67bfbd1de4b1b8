"""The span processor Margin adds to the tracer provider: it stamps every span started
inside a ``margin.trace`` scope — Margin's own and any other instrumentation's — with the
scope's customer, agent and metadata, and hands finished spans to delivery."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from margin import semconv
from margin.sdk._context import scope_var
from margin.sdk.delivery import Delivery

__all__ = ["MarginSpanProcessor"]


class MarginSpanProcessor(SpanProcessor):
    """Stamps scope attributes at start; queues spans of Margin scopes at end.

    One instance is added to a provider once; ``delivery`` is swapped by ``configure``
    because an SDK provider cannot remove a processor."""

    def __init__(self) -> None:
        self.delivery: Delivery | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        scope = scope_var.get()
        if scope is not None and self.delivery is not None:
            span.set_attributes(scope.attributes)

    def on_end(self, span: ReadableSpan) -> None:
        delivery = self.delivery
        if delivery is None:
            return
        # Only spans of a Margin scope leave the process: the rest belong to the user's
        # own tracing backends, not to Margin.
        attributes = span.attributes
        if attributes and semconv.CUSTOMER in attributes:
            delivery.submit("traces", span)

    def shutdown(self) -> None:
        delivery, self.delivery = self.delivery, None
        if delivery is not None:
            delivery.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        delivery = self.delivery
        return True if delivery is None else delivery.flush(timeout_millis / 1000)
