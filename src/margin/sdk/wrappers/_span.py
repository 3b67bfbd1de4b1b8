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


# ``trace.get_tracer`` builds two scope objects and takes a lock on every call; the tracer is
# cached per global provider, so a provider set (or swapped) later is still picked up.
_tracer_cache: tuple[object, trace.Tracer] | None = None


def _tracer() -> trace.Tracer:
    global _tracer_cache
    provider = trace.get_tracer_provider()
    cached = _tracer_cache
    if cached is not None and cached[0] is provider:
        return cached[1]
    tracer = provider.get_tracer(TRACER_NAME)
    _tracer_cache = (provider, tracer)
    return tracer


# Name and static attributes of wrapper spans, by (operation, provider, model, stream).
_static: dict[tuple[str, str, str | None, bool], tuple[str, dict[str, Any]]] = {}


def _static_part(
    operation: str, provider: str, model: str | None, stream: bool
) -> tuple[str, dict[str, Any]]:
    key = (operation, provider, model, stream)
    found = _static.get(key)
    if found is None:
        attrs: dict[str, Any] = {
            semconv.OPERATION: operation,
            semconv.PROVIDER: provider,
            semconv.INSTRUMENTATION: "margin",
        }
        if model:
            attrs[semconv.REQUEST_MODEL] = model
        if stream:
            attrs[semconv.REQUEST_STREAM] = True
        found = (f"{operation} {model}" if model else operation, clean_attributes(attrs))
        if len(_static) >= 1024:
            _static.clear()
        _static[key] = found
    return found


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
    name, static = _static_part(operation, provider, str(model) if model else None, stream)
    given = {k: v for k, v in attributes.items() if v is not None} if attributes else None
    attrs = {**static, **given} if given else dict(static)
    if current is not None:
        return SpanRecorder(current.start_span(name, attrs, kind=SpanKind.CLIENT), model)
    return SpanRecorder(_tracer().start_span(name, kind=SpanKind.CLIENT, attributes=attrs), model)


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
    if attributes:
        name, static = _static_part(operation, provider, label, stream)
        extra = clean_attributes({k: v for k, v in attributes.items() if v is not None})
        own = {**static, **extra, **scope.attributes}
    else:
        name, shared = _scope_part(scope, operation, provider, label, stream)
        own = dict(shared)
    return LightSpan(
        name, own, SpanKind.CLIENT, context, current.resource, current.scope, current.sink
    )


def _scope_part(
    scope: TraceScope, operation: str, provider: str, model: str | None, stream: bool
) -> tuple[str, dict[str, Any]]:
    """The name and attributes (static ones and the scope's) of a wrapper span in ``scope``,
    built once per scope object: do not mutate them."""
    key = (operation, provider, model, stream)
    found = scope.spans.get(key)
    if found is None:
        name, static = _static_part(operation, provider, model, stream)
        found = (name, {**static, **scope.attributes})
        if len(scope.spans) < 256:
            scope.spans[key] = found
    return found
