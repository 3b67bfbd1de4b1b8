"""Starting the span of one provider call, for every wrapper.

Wrappers build one CLIENT span per provider call, shaped by the OpenTelemetry GenAI
conventions (``gen_ai.*``): through the global tracer provider, or, when Margin records
directly (``Runtime.records_directly``), as a ``LightSpan`` inside the current
``margin.trace``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from margin import semconv
from margin.sdk import runtime
from margin.sdk._context import TraceScope, scope_var
from margin.sdk._lightspan import LightSpan, clean_attributes
from margin.sdk.wrappers._recorder import SpanRecorder

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from margin.sdk.runtime import Runtime

__all__ = ["TRACER_NAME", "direct_span", "start_span"]

TRACER_NAME = "margin"


def _static_part(
    operation: str, provider: str, model: str | None, stream: bool
) -> tuple[str, dict[str, Any]]:
    """The name and the attributes of a wrapper span that do not depend on the call."""
    attrs: dict[str, Any] = {
        semconv.OPERATION: operation,
        semconv.PROVIDER: provider,
        semconv.INSTRUMENTATION: "margin",
    }
    if model:
        attrs[semconv.REQUEST_MODEL] = model
    if stream:
        attrs[semconv.REQUEST_STREAM] = True
    return (f"{operation} {model}" if model else operation), attrs


def start_span(
    operation: str,
    provider: str,
    model: str | None,
    *,
    stream: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> SpanRecorder:
    """Start a CLIENT span named ``"{operation} {model}"`` on the global tracer provider (or,
    when Margin records directly, as a ``LightSpan``)."""
    current = runtime.current_runtime()
    if current is not None and current.records_directly():
        scope = scope_var.get()
        if scope is None:  # nothing outside a margin.trace is exported: record nothing
            return SpanRecorder(trace.INVALID_SPAN, model, recording=False, content=False)
        span = direct_span(current, scope, operation, provider, model, stream, None, attributes)
        return SpanRecorder(span, model, True, scope.store_prompt)
    name, attrs = _static_part(operation, provider, str(model) if model else None, stream)
    if attributes:
        attrs.update({k: v for k, v in attributes.items() if v is not None})
    if current is not None:
        return SpanRecorder(current.start_span(name, attrs, kind=SpanKind.CLIENT), model)
    tracer = trace.get_tracer(TRACER_NAME)
    return SpanRecorder(tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs), model)


# ``_static_part``'s answer by its arguments: a call's model repeats from call to call.
_static_parts: dict[tuple[str, str, str | None, bool], tuple[str, dict[str, Any]]] = {}


def direct_span(
    current: Runtime,
    scope: TraceScope,
    operation: str,
    provider: str,
    model: str | None,
    stream: bool,
    context: Context | None,
    attributes: Mapping[str, Any] | None = None,
) -> LightSpan:
    """``start_span``'s span when Margin records directly inside ``scope``: a ``LightSpan``,
    child of the span in ``context`` (None: the current one)."""
    label = model if type(model) is str else (str(model) if model else None)
    static = _static_parts.get((operation, provider, label, stream))
    if static is None:
        static = _static_part(operation, provider, label, stream)
        if len(_static_parts) >= 1024:
            _static_parts.clear()
        _static_parts[operation, provider, label, stream] = static
    name, fixed = static
    if attributes:
        own = dict(fixed)
        own.update(clean_attributes({k: v for k, v in attributes.items() if v is not None}))
        own.update(scope.attributes)
    else:
        own = {**fixed, **scope.attributes}
    return LightSpan(
        name, own, SpanKind.CLIENT, context, current.resource, current.scope, current.sink
    )
