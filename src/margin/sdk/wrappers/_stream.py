"""Transparent proxies around provider streams.

A proxy yields exactly what the provider's stream yields (minus items an observer asks to
hide, e.g. a usage chunk Margin itself requested), forwards every other attribute to the
real stream, and ends the span once: when the stream is exhausted, fails, is closed, its
``with`` block exits, or it is garbage-collected after an early ``break``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from margin.sdk.wrappers._guard import guard
from margin.sdk.wrappers._recorder import SpanRecorder

__all__ = ["AsyncStreamProxy", "StreamObserver", "StreamProxy"]


class StreamObserver:
    """Accumulates what a stream reports; subclasses override :meth:`observe` and :meth:`done`."""

    def observe(self, item: Any) -> bool:
        """Look at one item; return False to hide it from the caller."""
        return True

    def done(self, rec: SpanRecorder) -> None:
        """Write the accumulated usage and response details onto the span."""


class _Base:
    def __init__(self, inner: Any, rec: SpanRecorder, observer: StreamObserver) -> None:
        self._margin_inner = inner
        self._margin_rec = rec
        self._margin_observer = observer
        self._margin_iter: Any = None

    def _margin_keep(self, item: Any) -> bool:
        with guard("stream observe"):
            return self._margin_observer.observe(item)
        return True

    def _margin_done(self, exc: BaseException | None = None) -> None:
        rec = self._margin_rec
        if rec.ended:
            return
        with guard("stream done"):
            self._margin_observer.done(rec)
        if exc is not None and not isinstance(exc, GeneratorExit):
            rec.fail(exc)
        rec.end()

    def __getattr__(self, name: str) -> Any:
        # Only called for names the proxy lacks: response, get_final_message, text_stream…
        return getattr(self._margin_inner, name)

    def __del__(self) -> None:
        # An abandoned stream (``break`` without close) still reports what it saw.
        rec = self.__dict__.get("_margin_rec")
        if rec is not None and not rec.ended:
            self._margin_done()


class StreamProxy(_Base):
    """Proxy for a synchronous stream (iterator, optionally a context manager)."""

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        if self._margin_iter is None:
            self._margin_iter = iter(self._margin_inner)
        while True:
            try:
                item = next(self._margin_iter)
            except StopIteration:
                self._margin_done()
                raise
            except BaseException as exc:
                self._margin_done(exc)
                raise
            if self._margin_keep(item):
                return item

    def __enter__(self) -> StreamProxy:
        enter = getattr(self._margin_inner, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            leave = getattr(self._margin_inner, "__exit__", None)
            return leave(exc_type, exc, tb) if leave is not None else None
        finally:
            self._margin_done()

    def close(self) -> Any:
        """Close the real stream and end the span."""
        try:
            return self._margin_inner.close()
        finally:
            self._margin_done()


class AsyncStreamProxy(_Base):
    """Proxy for an asynchronous stream (async iterator, optionally an async context manager)."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        if self._margin_iter is None:
            self._margin_iter = aiter(self._margin_inner)
        while True:
            try:
                item = await anext(self._margin_iter)
            except StopAsyncIteration:
                self._margin_done()
                raise
            except BaseException as exc:
                self._margin_done(exc)
                raise
            if self._margin_keep(item):
                return item

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self._margin_inner, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            leave = getattr(self._margin_inner, "__aexit__", None)
            return await leave(exc_type, exc, tb) if leave is not None else None
        finally:
            self._margin_done()

    async def close(self) -> Any:
        """Close the real stream and end the span."""
        try:
            closer = getattr(self._margin_inner, "close", None) or self._margin_inner.aclose
            return await closer()
        finally:
            self._margin_done()

    async def aclose(self) -> Any:
        """Alias of :meth:`close` for async-generator style callers."""
        return await self.close()
