"""Mistral (``mistralai``): ``chat.complete`` / ``chat.stream`` and ``embeddings.create``,
with their ``*_async`` twins.

Streams put the usage on the last chunk without being asked.
"""

from __future__ import annotations

from typing import Any

from margin._fields import dig
from margin.sdk.wrappers._patch import CallSpec, Instrumentation, building, patch_methods, require
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers._stream import AsyncStreamProxy, StreamObserver, StreamProxy
from margin.usage import mistral_usage

__all__ = ["instrument_mistral"]

PROVIDER = "mistral_ai"


def _output(choices: Any) -> list[dict[str, Any]]:
    return [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": dig(c, "message", "content")}],
            "finish_reason": dig(c, "finish_reason"),
        }
        for c in choices or []
    ]


class _Observer(StreamObserver):
    def __init__(self) -> None:
        self.id: Any = None
        self.model: Any = None
        self.usage: Any = None
        self.finish: list[str] = []
        self.text: list[str] = []

    def observe(self, item: Any) -> bool:
        chunk = dig(item, "data")
        self.id = dig(chunk, "id") or self.id
        self.model = dig(chunk, "model") or self.model
        self.usage = dig(chunk, "usage") or self.usage
        for choice in dig(chunk, "choices") or []:
            if isinstance(dig(choice, "finish_reason"), str):
                self.finish.append(dig(choice, "finish_reason"))
            content = dig(choice, "delta", "content")
            if isinstance(content, str):
                self.text.append(content)
        return True

    def done(self, rec: SpanRecorder) -> None:
        rec.response(self.id, self.model, self.finish)
        rec.usage(mistral_usage(self.usage))
        if self.text:
            rec.output_messages(
                [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self.text)}]}]
            )


class _Chat(CallSpec):
    provider = PROVIDER
    operation = "chat"

    def __init__(self, stream: bool) -> None:
        self._stream = stream

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return self._stream

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        choices = dig(result, "choices")
        finish = [
            dig(c, "finish_reason")
            for c in choices or []
            if isinstance(dig(c, "finish_reason"), str)
        ]
        rec.response(dig(result, "id"), dig(result, "model"), finish)
        rec.usage(mistral_usage(dig(result, "usage")))
        if rec.content:
            rec.output_messages(_output(choices))

    def stream(self, rec: SpanRecorder, result: Any, state: Any) -> Any:
        if hasattr(result, "__anext__"):
            return AsyncStreamProxy(result, rec, _Observer())
        if hasattr(result, "__next__"):
            return StreamProxy(result, rec, _Observer())
        rec.end()
        return result


class _Embeddings(CallSpec):
    provider = PROVIDER
    operation = "embeddings"

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        rec.input_messages(kwargs.get("inputs"))

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        rec.response(dig(result, "id"), dig(result, "model"))
        rec.usage(mistral_usage(dig(result, "usage")))


_CHAT: list[tuple[str, CallSpec]] = [
    ("complete", _Chat(stream=False)),
    ("complete_async", _Chat(stream=False)),
    ("stream", _Chat(stream=True)),
    ("stream_async", _Chat(stream=True)),
]
_EMBEDDINGS: list[tuple[str, CallSpec]] = [
    ("create", _Embeddings()),
    ("create_async", _Embeddings()),
]


def instrument_mistral(client: Any = None) -> Instrumentation:
    """Trace Mistral chat and embeddings: one ``Mistral`` client, or every client when None."""
    chat = require("mistralai.client.chat", "mistral")
    embeddings = require("mistralai.client.embeddings", "mistral")
    with building("mistral") as handle:
        if client is not None:
            patch_methods(handle, client.chat, _CHAT)
            patch_methods(handle, client.embeddings, _EMBEDDINGS)
            return handle
        patch_methods(handle, chat.Chat, _CHAT)
        patch_methods(handle, embeddings.Embeddings, _EMBEDDINGS)
        return handle
