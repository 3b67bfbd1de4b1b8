"""The SDK's process-wide state: configuration, the tracer, delivery, flush and shutdown."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, DEFAULT_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind

from margin._version import __version__
from margin.sdk import _otel
from margin.sdk._context import scope_var
from margin.sdk._http import resolve_base_url, resolve_ingest_key
from margin.sdk._lightspan import LightSpan, clean_attributes
from margin.sdk.delivery import Delivery, DeliveryConfig
from margin.sdk.processor import MarginSpanProcessor
from margin.sdk.spool import default_spool_dir

__all__ = [
    "Runtime",
    "active",
    "configure",
    "current_runtime",
    "delivery_stats",
    "flush",
    "get_runtime",
    "shutdown",
]

log = logging.getLogger("margin")

_EMPTY_STATS = dict.fromkeys(
    (
        "enqueued",
        "exported",
        "spooled",
        "replayed",
        "dropped",
        "rejected",
        "dead_lettered",
        "failed_attempts",
        "queued",
    ),
    0,
)


class Runtime:
    """A configured SDK: where spans are recorded and how they are delivered."""

    def __init__(
        self,
        tracer: trace_api.Tracer,
        delivery: Delivery,
        provider: TracerProvider,
        scope: InstrumentationScope,
    ) -> None:
        self.tracer = tracer
        self.delivery = delivery
        self.provider = provider
        self.scope = scope
        self.resource: Resource = provider.resource
        #: Where a span Margin records itself goes when it ends: straight to the queue (a span
        #: open when ``configure`` or ``shutdown`` closes this delivery is spooled by it, and
        #: a forked child restarts the same object).
        self.sink: Callable[[object], None] = delivery.submit_span
        # ``records_directly``'s answer, and the processors tuple it was decided for.
        self._decided: tuple[object, bool] = (None, False)

    def records_directly(self) -> bool:
        """Whether Margin's own spans skip the OpenTelemetry SDK: true while Margin's processor
        is the provider's only one and the sampler is the default (nobody else would see
        them, and every span is kept); otherwise they go through the provider as usual."""
        processors = _otel.span_processors(self.provider)
        seen, direct = self._decided
        if processors is seen and processors is not None:
            return direct  # the SDK makes a new tuple when a processor is added
        direct = (
            processors is not None
            and len(processors) == 1
            and processors[0] is _processor
            and getattr(self.provider, "sampler", None) in _DEFAULT_SAMPLERS
            and not _otel.provider_disabled(self.provider)
        )
        self._decided = (processors, direct)
        return direct

    def start_span(
        self,
        name: str,
        attributes: dict[str, object] | None = None,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        context: Context | None = None,
    ) -> trace_api.Span:
        """Start one of Margin's own spans: a ``LightSpan`` when ``records_directly()``
        (``INVALID_SPAN`` outside any ``margin.trace``, since nothing there is exported),
        else an SDK span from this runtime's tracer."""
        if not self.records_directly():
            return self.tracer.start_span(
                name,
                context=context,
                kind=kind,
                attributes=attributes,  # type: ignore[arg-type]
            )
        scope = scope_var.get()
        if scope is None:
            return trace_api.INVALID_SPAN
        merged = {**clean_attributes(attributes), **scope.attributes} if attributes else None
        return LightSpan(
            name,
            merged or dict(scope.attributes),
            kind,
            context,
            self.resource,
            self.scope,
            self.sink,
        )


_DEFAULT_SAMPLERS = (DEFAULT_ON, ALWAYS_ON)
_SCOPE = InstrumentationScope("margin", __version__)
_lock = threading.RLock()
_processor = MarginSpanProcessor()
_installed: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
_runtime: Runtime | None = None
# Kept after shutdown so the final counters stay readable.
_last_delivery: Delivery | None = None
_configured = False
_atexit_registered = False


def configure(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    spool_dir: str | Path | None = None,
    max_queue: int = 8192,
    max_batch: int = 2048,
    export_interval: float = 1.0,
    timeout: float = 10.0,
    max_attempts: int = 3,
    retry_backoff: float = 0.5,
) -> bool:
    """Start tracing and background delivery. Returns False (tracing stays a no-op) when no
    API key is given and neither ``MARGIN_INGEST_KEY`` nor ``MARGIN_API_KEY`` is set.

    ``spool_dir`` (default ``MARGIN_SPOOL_DIR`` or ``~/.cache/margin/spool``) holds batches
    the server has not acknowledged yet; ``max_queue`` spans wait in memory before the queue
    spills there; ``max_batch`` spans go per request, at least every ``export_interval``
    seconds; a failing request is tried ``max_attempts`` times before it is spooled (or,
    when the server fails on that batch alone, split to set the failing items aside).
    Calling it again replaces the previous configuration (after flushing it)."""
    global _runtime, _configured, _atexit_registered, _last_delivery
    with _lock:
        _stop_current(timeout=5.0)
        _configured = True
        key = resolve_ingest_key(api_key)
        if not key:
            return False
        config = DeliveryConfig(
            base_url=resolve_base_url(base_url),
            api_key=key,
            spool_dir=Path(spool_dir) if spool_dir is not None else default_spool_dir(),
            max_queue=max_queue,
            max_batch=max_batch,
            export_interval=export_interval,
            timeout=timeout,
            max_attempts=max_attempts,
            retry_backoff=retry_backoff,
        )
        provider = _provider()
        if provider not in _installed:
            provider.add_span_processor(_processor)
            _installed.add(provider)
        delivery = Delivery(config)
        _processor.delivery = delivery
        _last_delivery = delivery
        _runtime = Runtime(provider.get_tracer("margin", __version__), delivery, provider, _SCOPE)
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
        return True


def _provider() -> TracerProvider:
    """The global SDK provider, so other instrumentations' spans pass through Margin's
    processor; a new one is made global when there is none."""
    current = trace_api.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider()
    if isinstance(current, trace_api.ProxyTracerProvider):
        trace_api.set_tracer_provider(provider)
    else:
        log.warning(
            "margin: the global tracer provider is %s, not an SDK provider; "
            "only Margin's own spans will be recorded",
            type(current).__name__,
        )
    return provider


def get_runtime() -> Runtime | None:
    """The configured runtime, configuring from the environment on first use."""
    if not _configured:
        try:
            configure()
        except Exception:
            log.warning("margin: configuration failed; tracing disabled", exc_info=True)
    return _runtime


def current_runtime() -> Runtime | None:
    """The configured runtime, or None; unlike ``get_runtime`` it never configures."""
    return _runtime


def active() -> Runtime | None:
    """The runtime to record with: ``get_runtime()``, configuring from the environment on
    first use, then the configured runtime (or None) without further work."""
    return _runtime if _configured else get_runtime()


def flush(timeout: float | None = None) -> bool:
    """Deliver everything recorded so far; True when nothing is left queued or spooled."""
    runtime = _runtime
    if runtime is None:
        return True
    try:
        return runtime.delivery.flush(timeout)
    except Exception:
        log.warning("margin: flush failed", exc_info=True)
        return False


def shutdown(timeout: float = 5.0) -> None:
    """Flush, stop delivery and spool what could not be delivered; tracing becomes a no-op
    until ``configure`` is called again."""
    global _configured
    with _lock:
        _stop_current(timeout)
        _configured = True


def delivery_stats() -> dict[str, int]:
    """Counters of ``enqueued, exported, spooled, replayed, dropped, rejected,
    dead_lettered`` items, ``failed_attempts`` (requests), and ``queued`` (items in memory
    now). ``exported`` includes ``replayed`` (delivered from the spool); ``dead_lettered``
    items are the ones the server kept failing on, set aside in the spool directory's
    ``dead-letters.jsonl``; ``rejected`` ones the server refused for their content, written
    to the same file with its reason (signals one by one)."""
    delivery = _last_delivery
    return delivery.stats() if delivery is not None else dict(_EMPTY_STATS)


def _stop_current(timeout: float) -> None:
    global _runtime
    runtime, _runtime = _runtime, None
    _processor.delivery = None
    if runtime is not None:
        try:
            runtime.delivery.shutdown(timeout)
        except Exception:
            log.warning("margin: shutdown failed", exc_info=True)


def _reset() -> None:
    """Forget all state (tests): the next use configures from the environment again."""
    global _configured, _last_delivery
    with _lock:
        _stop_current(timeout=5.0)
        _configured = False
        _last_delivery = None
        _installed.clear()


def _after_fork() -> None:
    # Threads do not survive fork: a child (a pre-forking server's worker, say) gets its own
    # delivery thread and an empty queue; the parent keeps delivering what it queued.
    runtime = _runtime
    if runtime is not None:
        runtime.delivery.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _at_exit() -> None:
    _stop_current(timeout=5.0)
