"""Reversible, idempotent method patching and the generic traced-call wrapper."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Span

from margin.sdk import _otel, runtime
from margin.sdk._context import scope_var
from margin.sdk.wrappers._guard import guard, report
from margin.sdk.wrappers._recorder import SpanRecorder, read_later
from margin.sdk.wrappers._span import direct_span, start_span

__all__ = [
    "CallSpec",
    "Instrumentation",
    "building",
    "patch",
    "patch_methods",
    "require",
    "wrap_async",
    "wrap_sync",
]

_MARK = "__margin_wrapped__"
_MISSING = object()
_get_context, _attach, _detach, _SPAN_KEY = (
    _otel.get_context,
    _otel.attach,
    _otel.detach,
    _otel.SPAN_KEY,
)


def require(module: str, extra: str) -> Any:
    """Import a provider SDK or raise ImportError naming the install line."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is not installed; install it with: pip install 'margin[{extra}]'"
        ) from exc


class Instrumentation:
    """A handle on what one ``instrument_*`` call patched; revert with :meth:`uninstrument`.

    Usable as a context manager: instrumentation is reverted on exit.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._undo: list[Callable[[], None]] = []

    def add_undo(self, undo: Callable[[], None]) -> None:
        """Register how to revert one change (run in reverse order)."""
        self._undo.append(undo)

    @property
    def active(self) -> bool:
        """Whether this handle still holds changes to revert."""
        return bool(self._undo)

    def uninstrument(self) -> None:
        """Revert every change this handle made. Safe to call more than once."""
        while self._undo:
            undo = self._undo.pop()
            with guard(f"uninstrument {self.name}"):
                undo()

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstrument()

    def __repr__(self) -> str:
        return f"<Instrumentation {self.name} active={self.active}>"


@contextmanager
def building(name: str) -> Iterator[Instrumentation]:
    """A fresh handle that is fully reverted if instrumenting fails halfway."""
    handle = Instrumentation(name)
    try:
        yield handle
    except BaseException:
        handle.uninstrument()
        raise


def is_wrapped(fn: Any) -> bool:
    """True when ``fn`` (function or bound method) is already a Margin wrapper."""
    return bool(getattr(fn, _MARK, False))


def patch(handle: Instrumentation, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    """Replace ``owner.name`` by ``make(current)`` unless it is already wrapped.

    ``owner`` is a class (every instance is traced) or an instance (only that one). An
    instance attribute that did not exist before is deleted again on revert, so the class
    attribute shows through.
    """
    current = getattr(owner, name, None)
    if current is None or is_wrapped(current):
        return
    before = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
    wrapper = make(current)
    setattr(wrapper, _MARK, True)
    setattr(owner, name, wrapper)

    def undo() -> None:
        if owner.__dict__.get(name) is not wrapper:
            return  # someone re-patched after us; leave their change alone
        if before is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, before)

    handle.add_undo(undo)


class CallSpec:
    """How to trace one provider method. Subclasses override the hooks they need."""

    provider = ""
    operation = "chat"

    def model(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """The requested model."""
        model = kwargs.get("model")
        return model if isinstance(model, str) else None

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        """Whether this call returns a stream."""
        return kwargs.get("stream") is True

    def prepare_stream(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """For a streamed call: the kwargs to really call with, and state handed to
        ``stream``. (A call that is not streamed is made with the caller's kwargs.)"""
        return kwargs, None

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        """Record request details (the prompt, when allowed)."""
        rec.input_messages(kwargs.get("messages"))

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        """Record a non-streamed result."""

    def read_now(self, result: Any) -> dict[str, Any] | None:
        """What ``finish`` would record for ``result`` when that is quick to read (clean
        values, no content), else None (``finish`` then reads it on the delivery thread)."""
        return None

    def stream(self, rec: SpanRecorder, result: Any, state: Any) -> Any:
        """Wrap a streamed result so the span ends when the stream does."""
        rec.end()
        return result


_Started = tuple[
    SpanRecorder | None, Span, str | None, dict[str, Any], Any, bool, Token[Context] | None
]


def _begin(spec: CallSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Started | None:
    """Start the span of one call and make it the current span: (recorder, span, model,
    kwargs to call with, state, streamed, context token); None when the call is not traced.
    The recorder is None for a call Margin records directly with nothing to note before it
    ends (no stream, no prompt): see ``read_later``."""
    try:
        current = runtime.current_runtime()
        direct = current if current is not None and current.records_directly() else None
        scope = scope_var.get()
        if direct is not None and scope is None:
            return None  # nothing outside a margin.trace is exported: record nothing
        stream = spec.is_stream(kwargs)
        model = spec.model(args, kwargs)
        context = _get_context()
        rec: SpanRecorder | None
        span: Span
        if direct is not None and scope is not None:
            span = direct_span(direct, scope, spec.operation, spec.provider, model, stream, context)
            # A recorder is made now only if something is recorded before the call ends.
            before = stream or scope.store_prompt or type(spec).begin is not CallSpec.begin
            rec = SpanRecorder(span, model, True, scope.store_prompt) if before else None
        else:
            rec = start_span(spec.operation, spec.provider, model, stream=stream)
            if not rec.recording:
                return None
            span = rec.span
        call_kwargs, state = spec.prepare_stream(kwargs) if stream else (kwargs, None)
    except Exception:
        report(f"{spec.provider} {spec.operation} start")
        return None
    if rec is not None:
        try:
            spec.begin(rec, kwargs)
        except Exception:
            report(f"{spec.provider} request")
    # Our span is the current one during the call: the provider's own spans (anthropic's
    # native span, say) become its children.
    try:
        # ``attach(set_span_in_context(span, context))``, without their Python frames.
        token = _attach(Context({**context, _SPAN_KEY: span}))
    except Exception:
        report("context attach")
        token = None
    return rec, span, model, call_kwargs, state, stream, token


def _end_plain(spec: CallSpec, span: Any, model: str | None, result: Any, state: Any) -> None:
    """End the ``LightSpan`` of a call that recorded nothing yet: with what ``read_now``
    reads of the result, or leaving ``finish`` to the delivery thread. A result read at once
    is not kept alive until delivery, nor the objects it holds, which the garbage collector
    would otherwise promote and scan (bench/sdk_overhead.py --mode warm: −9 to −18 µs CPU a
    call; --mode openai: 58 young collections and no full one per 6,000 calls, against 202
    and one of 64 ms)."""
    try:
        read = spec.read_now(result)
    except Exception:
        read = None  # the deferred reading reports what fails, and the span is still sent
    try:
        if read is not None:
            span.end_with(read)
        else:
            span.end_deferred(
                functools.partial(read_later, span, model, spec.finish, result, state)
            )
    except Exception:
        report(f"{spec.provider} {spec.operation} end")


def _failed(rec: SpanRecorder | None, span: Span, model: str | None, exc: BaseException) -> None:
    (rec or SpanRecorder(span, model, True, False)).fail(exc)


def _complete(spec: CallSpec, rec: SpanRecorder, result: Any, state: Any, stream: bool) -> Any:
    if stream:
        try:
            return spec.stream(rec, result, state)
        except Exception:
            report(f"{spec.provider} {spec.operation} stream")
        rec.end()
        return result
    try:
        # Spans Margin exports itself are read on the delivery thread (see
        # ``end_reading_later``): the caller gets its result without waiting for that
        # (bench/sdk_overhead.py --mode warm: an 11 µs median call, 22 µs reading it here).
        if rec.end_reading_later(spec.finish, result, state):
            return result
    except Exception:
        report(f"{spec.provider} {spec.operation} end")
        if rec.ended:
            return result
    try:
        spec.finish(rec, result, state)
    except Exception:
        report(f"{spec.provider} {spec.operation} response")
    rec.end()
    return result


def wrap_sync(original: Callable[..., Any], spec: CallSpec) -> Callable[..., Any]:
    """A traced version of a synchronous provider method (bound or unbound)."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = _begin(spec, args, kwargs)
        if started is None:
            return original(*args, **kwargs)
        rec, span, model, call_kwargs, state, stream, token = started
        try:
            result = original(*args, **call_kwargs)
        except BaseException as exc:
            _failed(rec, span, model, exc)
            raise
        finally:
            if token is not None:
                _detach(token)
        if rec is None:  # nothing recorded yet
            _end_plain(spec, span, model, result, state)
            return result
        return _complete(spec, rec, result, state, stream)

    return wrapper


def wrap_async(original: Callable[..., Any], spec: CallSpec) -> Callable[..., Any]:
    """A traced version of an ``async def`` provider method."""

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = _begin(spec, args, kwargs)
        if started is None:
            return await original(*args, **kwargs)
        rec, span, model, call_kwargs, state, stream, token = started
        try:
            result = await original(*args, **call_kwargs)
        except BaseException as exc:
            _failed(rec, span, model, exc)
            raise
        finally:
            if token is not None:
                _detach(token)
        if rec is None:  # nothing recorded yet
            _end_plain(spec, span, model, result, state)
            return result
        return _complete(spec, rec, result, state, stream)

    return wrapper


def patch_methods(
    handle: Instrumentation, owner: Any, methods: Iterable[tuple[str, CallSpec]]
) -> None:
    """Patch methods of one class or instance; ``async def`` methods get the async wrapper."""
    for name, spec in methods:
        patch(handle, owner, name, _wrapper_for(spec))


def _wrapper_for(spec: CallSpec) -> Callable[[Any], Any]:
    def make(fn: Callable[..., Any]) -> Callable[..., Any]:
        return _wrap(fn, spec)

    return make


def _wrap(fn: Callable[..., Any], spec: CallSpec) -> Callable[..., Any]:
    # Provider decorators (openai's ``required_args``) hide ``async def`` behind a sync wrapper.
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn)):
        return wrap_async(fn, spec)
    return wrap_sync(fn, spec)
