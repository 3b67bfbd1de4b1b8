"""Anthropic: ``messages.create`` (plain and ``stream=True``), ``messages.parse`` and the
``messages.stream()`` helper, sync and async.

Anthropic's ``input_tokens`` excludes cache reads and writes; the span's input is the sum,
as the GenAI conventions ask. In streams, ``message_start`` carries ``output_tokens: 1`` and
every ``message_delta`` carries the cumulative output count, so the last one wins.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from opentelemetry import context, trace

from margin._fields import dig, field
from margin.sdk.wrappers._guard import guard
from margin.sdk.wrappers._patch import CallSpec, Instrumentation, building, patch_methods, require
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers._stream import AsyncStreamProxy, StreamObserver, StreamProxy
from margin.usage import anthropic_usage

__all__ = ["instrument_anthropic"]

PROVIDER = "anthropic"
# The usage fields a stream reports, in ``message_start`` and (cumulative) ``message_delta``.
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens_details",
    "server_tool_use",
)


def _record_message(rec: SpanRecorder, message: Any) -> None:
    rec.response(dig(message, "id"), dig(message, "model"), dig(message, "stop_reason"))
    rec.usage(anthropic_usage(dig(message, "usage")))
    if rec.content:
        parts = [
            {"type": "text", "content": dig(block, "text")}
            for block in dig(message, "content") or []
            if dig(block, "type") == "text"
        ]
        rec.output_messages([{"role": "assistant", "parts": parts}])


class _EventObserver(StreamObserver):
    """Folds raw ``stream=True`` events into one usage."""

    def __init__(self) -> None:
        self.message: Any = None
        self.usage: dict[str, Any] = {}
        self.stop_reason: Any = None
        self.text: list[str] = []

    def observe(self, item: Any) -> bool:
        kind = dig(item, "type")
        if kind == "message_start":
            self.message = dig(item, "message")
            self._merge(dig(self.message, "usage"))
        elif kind == "message_delta":
            self.stop_reason = dig(item, "delta", "stop_reason") or self.stop_reason
            self._merge(dig(item, "usage"))
        elif kind == "content_block_delta" and dig(item, "delta", "type") == "text_delta":
            self.text.append(dig(item, "delta", "text") or "")
        return True

    def _merge(self, usage: Any) -> None:
        # Later values replace earlier ones: message_delta counts are cumulative.
        for name in _USAGE_FIELDS:
            value = field(usage, name)
            if value is not None:
                self.usage[name] = value

    def done(self, rec: SpanRecorder) -> None:
        rec.response(dig(self.message, "id"), dig(self.message, "model"), self.stop_reason)
        rec.usage(anthropic_usage(self.usage))
        if self.text:
            rec.output_messages(
                [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self.text)}]}]
            )


class _Create(CallSpec):
    provider = PROVIDER

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        system = kwargs.get("system")
        rec.input_messages(
            kwargs.get("messages"), system if isinstance(system, str | list) else None
        )

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        _record_message(rec, result)

    def stream(self, rec: SpanRecorder, result: Any, state: Any) -> Any:
        anthropic = require("anthropic", "anthropic")
        if isinstance(result, anthropic.Stream):
            return StreamProxy(result, rec, _EventObserver())
        if isinstance(result, anthropic.AsyncStream):
            return AsyncStreamProxy(result, rec, _EventObserver())
        rec.end()  # with_raw_response / with_streaming_response: not a stream of events
        return result


class _StreamHelper(_Create):
    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return True

    def stream(self, rec: SpanRecorder, result: Any, state: Any) -> Any:
        return _ManagerProxy(result, rec)


class _ManagerProxy:
    """Stands in for ``MessageStreamManager`` / ``AsyncMessageStreamManager``.

    The request is sent on enter; on exit the stream's accumulated message snapshot (whose
    usage the SDK already folded correctly) is recorded.
    """

    def __init__(self, inner: Any, rec: SpanRecorder) -> None:
        self._inner = inner
        self._rec = rec
        self._stream: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _opened(self, stream: Any) -> Any:
        self._stream = stream
        return stream

    def _closed(self, exc: BaseException | None) -> None:
        with guard("anthropic stream snapshot"):
            snapshot = getattr(self._stream, "_current_snapshot_or_none", None)
            message = snapshot() if callable(snapshot) else None
            if message is not None:
                _record_message(self._rec, message)
        anthropic = require("anthropic", "anthropic")
        if isinstance(exc, anthropic.APIError):
            self._rec.fail(exc)
        self._rec.end()

    def __enter__(self) -> Any:
        token = context.attach(trace.set_span_in_context(self._rec.span))
        try:
            return self._opened(self._inner.__enter__())
        except BaseException as exc:
            self._rec.fail(exc)
            raise
        finally:
            context.detach(token)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self._inner.__exit__(exc_type, exc, tb)
        finally:
            self._closed(exc)

    async def __aenter__(self) -> Any:
        token = context.attach(trace.set_span_in_context(self._rec.span))
        try:
            return self._opened(await self._inner.__aenter__())
        except BaseException as exc:
            self._rec.fail(exc)
            raise
        finally:
            context.detach(token)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self._inner.__aexit__(exc_type, exc, tb)
        finally:
            self._closed(exc)


def instrument_anthropic(client: Any = None) -> Instrumentation:
    """Trace Anthropic Messages calls: one client instance, or every client when None."""
    require("anthropic", "anthropic")
    with building("anthropic") as handle:
        methods: list[tuple[str, CallSpec]] = [
            ("create", _Create()),
            ("parse", _Create()),
            ("stream", _StreamHelper()),
        ]
        if client is not None:
            patch_methods(handle, client.messages, methods)
            return handle
        module = require("anthropic.resources.messages.messages", "anthropic")
        patch_methods(handle, module.Messages, methods)
        patch_methods(handle, module.AsyncMessages, methods)
        return handle
