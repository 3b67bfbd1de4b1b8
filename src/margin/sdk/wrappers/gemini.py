"""Gemini (``google-genai``): ``models.generate_content`` and ``generate_content_stream``,
sync and ``client.aio``.

Streamed chunks carry running usage totals: the last one is recorded.
"""

from __future__ import annotations

from typing import Any

from margin._fields import dig
from margin.sdk.wrappers._patch import CallSpec, Instrumentation, building, patch_methods, require
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers._stream import AsyncStreamProxy, StreamObserver, StreamProxy
from margin.usage import gemini_usage

__all__ = ["instrument_gemini"]

PROVIDER = "gcp.gemini"


def _text(response: Any) -> str:
    parts = dig(response, "candidates")
    if not parts:
        return ""
    return "".join(str(dig(part, "text") or "") for part in dig(parts[0], "content", "parts") or [])


def _finish(response: Any) -> list[str]:
    reasons = []
    for candidate in dig(response, "candidates") or []:
        reason = dig(candidate, "finish_reason")
        if reason is not None:
            reasons.append(str(getattr(reason, "value", reason)))
    return reasons


class _Observer(StreamObserver):
    def __init__(self) -> None:
        self.last: Any = None
        self.meta: Any = None
        self.text: list[str] = []

    def observe(self, item: Any) -> bool:
        self.last = item
        # Each chunk carries the running totals; keep the latest non-empty one.
        self.meta = dig(item, "usage_metadata") or self.meta
        self.text.append(_text(item))
        return True

    def done(self, rec: SpanRecorder) -> None:
        rec.response(dig(self.last, "response_id"), dig(self.last, "model_version"))
        if self.last is not None:
            rec.response(finish=_finish(self.last))
        rec.usage(gemini_usage(self.meta))
        if self.text:
            rec.output_messages(
                [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self.text)}]}]
            )


class _Generate(CallSpec):
    provider = PROVIDER
    operation = "generate_content"

    def __init__(self, stream: bool) -> None:
        self._stream = stream

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return self._stream

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        rec.input_messages(kwargs.get("contents"), dig(kwargs.get("config"), "system_instruction"))

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        rec.response(dig(result, "response_id"), dig(result, "model_version"), _finish(result))
        rec.usage(gemini_usage(dig(result, "usage_metadata")))
        if rec.content:
            rec.output_messages(
                [{"role": "assistant", "parts": [{"type": "text", "content": _text(result)}]}]
            )

    def stream(self, rec: SpanRecorder, result: Any, state: Any) -> Any:
        if hasattr(result, "__anext__"):
            return AsyncStreamProxy(result, rec, _Observer())
        return StreamProxy(result, rec, _Observer())


_METHODS: list[tuple[str, CallSpec]] = [
    ("generate_content", _Generate(stream=False)),
    ("generate_content_stream", _Generate(stream=True)),
]


def instrument_gemini(client: Any = None) -> Instrumentation:
    """Trace Gemini ``generate_content`` calls: one ``genai.Client``, or every client when None."""
    require("google.genai", "gemini")
    models = require("google.genai.models", "gemini")
    with building("gemini") as handle:
        if client is not None:
            patch_methods(handle, client.models, _METHODS)
            patch_methods(handle, client.aio.models, _METHODS)
            return handle
        patch_methods(handle, models.Models, _METHODS)
        patch_methods(handle, models.AsyncModels, _METHODS)
        return handle
