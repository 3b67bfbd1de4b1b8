"""``margin.trace``: the scope that says whom the work inside it is for.

It is a decorator (sync and async functions) and a context manager (``with`` and
``async with``). Inside it every span shares one trace id and carries the customer, agent and
metadata; outside the user's code nothing changes, and a Margin failure is logged, not raised."""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from margin import semconv
from margin.sdk import _otel, runtime
from margin.sdk._bounded import keep
from margin.sdk._context import TraceScope, scope_var
from margin.sdk._lightspan import LightSpan
from margin.sdk.entitlements import require as require_access

__all__ = ["Trace", "new_trace_token", "trace"]

log = logging.getLogger("margin")
_P = ParamSpec("_P")
_T = TypeVar("_T")
_TOKEN = re.compile(r"[0-9a-f]{32}")
_ids = RandomIdGenerator()
_get_context, _attach, _detach, _SPAN_KEY = (
    _otel.get_context,
    _otel.attach,
    _otel.detach,
    _otel.SPAN_KEY,
)
_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args, exc_info=key.startswith("error"))


def new_trace_token() -> str:
    """A new distributed tracing token: a 32-lowercase-hex trace id. Pass it as
    ``trace(..., token=...)`` in several processes to put their work in one trace."""
    return f"{_ids.generate_trace_id():032x}"


def _parent_context(token: str | None) -> otel_context.Context | None:
    if token is None:
        return None
    if not isinstance(token, str) or not _TOKEN.fullmatch(token) or int(token, 16) == 0:
        _warn_once("token", "margin: ignoring invalid trace token %r (need 32 hex digits)", token)
        return None
    remote = SpanContext(
        int(token, 16),
        _ids.generate_span_id(),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace_api.set_span_in_context(NonRecordingSpan(remote))


#: Scopes without metadata by (customer, agent, token, store_prompt, unit): a scope is
#: immutable, and the same few repeat from call to call (see ``LightSpan.__init__``'s figure).
_scopes: dict[tuple[str, str | None, str | None, bool, str | None], TraceScope] = {}
_TEXT_OR_NONE = frozenset({str, type(None)})


def _scope(
    customer: str,
    agent: str | None,
    token: str | None,
    metadata: Mapping[str, Any] | None,
    store_prompt: bool,
    unit: str | None,
) -> TraceScope:
    """The ``TraceScope`` of these arguments: one made before when there is no metadata.
    Only text, None and bools are looked up, so equal values of other types (1 and True,
    say) never share a scope whose attributes hold the first one's value."""
    if (
        metadata
        or type(customer) is not str
        or type(store_prompt) is not bool
        or type(agent) not in _TEXT_OR_NONE
        or type(token) not in _TEXT_OR_NONE
        or type(unit) not in _TEXT_OR_NONE
    ):
        return TraceScope(customer, agent, dict(metadata or {}), store_prompt, token, unit)
    key = (customer, agent, token, store_prompt, unit)
    scope = _scopes.get(key)
    if scope is None:
        scope = TraceScope(customer, agent, {}, store_prompt, token, unit)
        keep(_scopes, key, scope, 4096)
    return scope


_Entry = tuple[Token[TraceScope | None], trace_api.Span | None, Token[Context] | None]


class Trace:
    """One ``margin.trace(...)`` call; see ``trace``."""

    __slots__ = ("_args", "_open", "_outer", "_require", "_scope")

    def __init__(
        self,
        customer: str,
        agent: str | None,
        token: str | None,
        metadata: Mapping[str, Any] | None,
        store_prompt: bool,
        require: str | None = None,
        unit: str | None = None,
    ) -> None:
        self._args = (customer, agent, token, metadata, store_prompt, require, unit)
        self._require = require
        self._scope = _scope(customer, agent, token, metadata, store_prompt, unit)
        #: The innermost open ``with`` of this object, and the ones it is nested in (rare:
        #: only when one Trace object is entered again before it exits).
        self._open: _Entry | None = None
        self._outer: list[_Entry] | None = None

    def __enter__(self) -> Trace:
        if self._require is not None:  # before any work: raises EntitlementExceeded
            require_access(self._scope.customer, self._require, self._scope.unit)
        scope = self._scope
        scope_token = scope_var.set(scope)
        span: trace_api.Span | None = None
        ctx_token: Token[Context] | None = None
        try:
            active = runtime.active()
            if active is not None:
                context = _get_context()
                token = scope.token
                # A token names a trace of another process (None if invalid: a new trace);
                # else the current span, if any, is the parent.
                parent = context if token is None else _parent_context(token)
                if active.records_directly():
                    span = LightSpan(
                        semconv.TRACE_SPAN,
                        dict(scope.attributes),
                        SpanKind.INTERNAL,
                        parent,
                        active.resource,
                        active.scope,
                        active.sink,
                    )
                else:
                    span = active.tracer.start_span(semconv.TRACE_SPAN, context=parent)
                # ``attach(set_span_in_context(span, context))``, without their Python frames.
                ctx_token = _attach(Context({**context, _SPAN_KEY: span}))
        except Exception:
            _warn_once("error-enter", "margin: could not start a trace; continuing without")
        if self._open is not None:
            if self._outer is None:
                self._outer = []
            self._outer.append(self._open)
        self._open = (scope_token, span, ctx_token)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entry = self._open
        if entry is None:
            return  # exited more often than entered: nothing of ours to undo
        scope_token, span, ctx_token = entry
        self._open = self._outer.pop() if self._outer else None
        try:
            if span is not None:
                if exc is not None:
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                span.end()
            if ctx_token is not None:
                _detach(ctx_token)
        except Exception:
            _warn_once("error-exit", "margin: could not end a trace")
        finally:
            scope_var.reset(scope_token)

    async def __aenter__(self) -> Trace:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[_P, _T]) -> Callable[_P, _T]:
        # A fresh Trace per call: concurrent calls of one decorated function never share state.
        args = self._args
        if inspect.iscoroutinefunction(fn):
            async_fn = cast(Callable[_P, Any], fn)

            @functools.wraps(fn)
            async def run_async(*a: _P.args, **kw: _P.kwargs) -> Any:
                async with Trace(*args):
                    return await async_fn(*a, **kw)

            return cast(Callable[_P, _T], run_async)

        @functools.wraps(fn)
        def run(*a: _P.args, **kw: _P.kwargs) -> _T:
            with Trace(*args):
                return fn(*a, **kw)

        return run


def trace(
    customer: str,
    agent: str | None = None,
    *,
    token: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    store_prompt: bool = False,
    require: str | None = None,
    unit: str | None = None,
) -> Trace:
    """Attribute the work inside to ``customer`` (your external id) and ``agent``.

    Use as ``@margin.trace("cus_1", "agent")``, ``with margin.trace(...)`` or
    ``async with margin.trace(...)``. Every span started inside — Margin's and any other
    OpenTelemetry instrumentation's — carries the customer, agent and ``metadata``, and shares
    one trace id (``token`` from ``new_trace_token()`` makes it that id, across processes).
    ``unit`` (the external id of one of the customer's units) attributes the AI cost and the
    signals inside to that unit, whose credits they burn first.
    Prompts and completions are stripped before export unless ``store_prompt`` is True.
    Without an API key this runs your code unchanged and records nothing.

    ``require="feature"`` checks the customer's entitlement first (``margin.check``, cached
    briefly) and raises ``EntitlementExceeded`` instead of running the work when access is
    denied, e.g. once a hard limit is reached (the unit's entitlement, with ``unit``)."""
    return Trace(customer, agent, token, metadata, store_prompt, require, unit)
