"""OpenAI: chat completions (incl. ``parse``), Responses, embeddings, images, transcriptions.

Streams that did not ask for usage get ``stream_options={"include_usage": True}`` so the span
can be priced; the extra usage-only chunk this produces is hidden from the caller, who sees
exactly the chunks they would have seen without Margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from margin._fields import dig, fields
from margin.sdk.wrappers._chat_read import chat_attributes
from margin.sdk.wrappers._patch import (
    CallSpec,
    Instrumentation,
    building,
    patch_methods,
    require,
)
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers._stream import AsyncStreamProxy, StreamObserver, StreamProxy
from margin.usage import openai_image_usage, openai_transcription_usage, openai_usage

__all__ = ["instrument_openai"]

PROVIDER = "openai"
_RAW_HEADER = "x-stainless-raw-response"


def _choices_output(choices: Any) -> list[dict[str, Any]]:
    out = []
    for choice in choices or []:
        message = dig(choice, "message")
        out.append(
            {
                "role": dig(message, "role") or "assistant",
                "parts": [{"type": "text", "content": dig(message, "content")}],
                "finish_reason": dig(choice, "finish_reason"),
            }
        )
    return out


def _is_raw(kwargs: Mapping[str, Any]) -> bool:
    # ``with_raw_response`` / ``with_streaming_response`` return an APIResponse, not a Stream.
    headers = kwargs.get("extra_headers")
    return isinstance(headers, Mapping) and any(str(k).lower() == _RAW_HEADER for k in headers)


class _Spec(CallSpec):
    provider = PROVIDER

    def stream(self, rec: SpanRecorder, result: Any, state: Any) -> Any:
        openai = require("openai", "openai")
        if isinstance(result, openai.Stream):
            return StreamProxy(result, rec, self.observer(state))
        if isinstance(result, openai.AsyncStream):
            return AsyncStreamProxy(result, rec, self.observer(state))
        rec.end()
        return result

    def observer(self, state: Any) -> StreamObserver:
        return StreamObserver()


class _ChatObserver(StreamObserver):
    def __init__(self, hide_usage_chunk: bool) -> None:
        self.hide = hide_usage_chunk
        self.id: Any = None
        self.model: Any = None
        self.usage: Any = None
        self.finish: list[str] = []
        self.text: list[str] = []

    def observe(self, item: Any) -> bool:
        self.id = dig(item, "id") or self.id
        self.model = dig(item, "model") or self.model
        choices = dig(item, "choices")
        for choice in choices or []:
            if dig(choice, "finish_reason"):
                self.finish.append(dig(choice, "finish_reason"))
            if dig(choice, "delta", "content"):
                self.text.append(dig(choice, "delta", "content"))
        if dig(item, "usage") is not None:
            self.usage = dig(item, "usage")
            if self.hide and not choices:
                return False
        return True

    def done(self, rec: SpanRecorder) -> None:
        rec.response(self.id, self.model, self.finish)
        rec.usage(openai_usage(self.usage))
        if self.text:
            rec.output_messages(
                [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self.text)}]}]
            )


def read_chat(rec: SpanRecorder, result: Any) -> None:
    """Record a chat completion of any shape (``chat_attributes`` reads the usual one)."""
    response_id, model, choices, usage = fields(result, "id", "model", "choices", "usage")
    finish = []
    for choice in choices or ():
        reason = dig(choice, "finish_reason")
        if reason:
            finish.append(reason)
    rec.response(response_id, model, finish)
    rec.usage(openai_usage(usage))


class _Chat(_Spec):
    operation = "chat"

    def prepare_stream(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        if _is_raw(kwargs):
            return kwargs, False
        options = kwargs.get("stream_options")
        options = dict(options) if isinstance(options, Mapping) else {}
        if options.get("include_usage") is True:
            return kwargs, False
        options["include_usage"] = True
        return {**kwargs, "stream_options": options}, True

    def read_now(self, result: Any) -> dict[str, Any] | None:
        return chat_attributes(result)

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        read = chat_attributes(result)
        if read is None:
            read_chat(rec, result)
        else:
            rec.record(read)
        if rec.content:
            rec.output_messages(_choices_output(dig(result, "choices")))

    def observer(self, state: Any) -> StreamObserver:
        return _ChatObserver(bool(state))


class _ResponsesObserver(StreamObserver):
    def __init__(self) -> None:
        self.response: Any = None

    def observe(self, item: Any) -> bool:
        if dig(item, "response") is not None:
            self.response = dig(item, "response")  # created/in_progress/completed snapshots
        return True

    def done(self, rec: SpanRecorder) -> None:
        rec.response(dig(self.response, "id"), dig(self.response, "model"))
        rec.usage(openai_usage(dig(self.response, "usage")))


class _Responses(_Spec):
    operation = "chat"

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        rec.set("openai.api.type", "responses")
        rec.input_messages(kwargs.get("input"), kwargs.get("instructions"))

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        rec.response(dig(result, "id"), dig(result, "model"))
        rec.usage(openai_usage(dig(result, "usage")))
        if rec.content:
            rec.output_messages(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": dig(result, "output_text")}],
                    }
                ]
            )

    def observer(self, state: Any) -> StreamObserver:
        return _ResponsesObserver()


class _Embeddings(_Spec):
    operation = "embeddings"

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        rec.input_messages(kwargs.get("input"))

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        rec.response(model=dig(result, "model"))
        rec.usage(openai_usage(dig(result, "usage")))


class _Images(_Spec):
    operation = "image_generation"

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        size, quality = kwargs.get("size"), kwargs.get("quality")
        rec.set("margin.request.image.size", size if isinstance(size, str) else None)
        rec.set("margin.request.image.quality", quality if isinstance(quality, str) else None)
        rec.input_messages(kwargs.get("prompt"))

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        rec.usage(openai_image_usage(result))


class _Transcriptions(_Spec):
    operation = "transcription"

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        pass  # the input is an audio file, never recorded

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        rec.usage(openai_transcription_usage(result))


Methods = list[tuple[str, CallSpec]]


def _targets(client: Any) -> list[tuple[Any, Methods]]:
    chat: Methods = [("create", _Chat()), ("parse", _Chat())]
    responses: Methods = [("create", _Responses()), ("parse", _Responses())]
    embeddings: Methods = [("create", _Embeddings())]
    images: Methods = [("generate", _Images())]
    transcriptions: Methods = [("create", _Transcriptions())]
    if client is not None:
        return [
            (client.chat.completions, chat),
            (client.responses, responses),
            (client.embeddings, embeddings),
            (client.images, images),
            (client.audio.transcriptions, transcriptions),
        ]
    pairs: list[tuple[Any, Methods]] = []
    # openai.resources loads submodules lazily, so import each one explicitly.
    for module, cls, methods in (
        ("chat.completions", "Completions", chat),
        ("responses", "Responses", responses),
        ("embeddings", "Embeddings", embeddings),
        ("images", "Images", images),
        ("audio.transcriptions", "Transcriptions", transcriptions),
    ):
        resources = require(f"openai.resources.{module}", "openai")
        pairs += [(getattr(resources, cls), methods), (getattr(resources, f"Async{cls}"), methods)]
    return pairs


def instrument_openai(client: Any = None) -> Instrumentation:
    """Trace OpenAI calls: one client instance, or every client when ``client`` is None."""
    require("openai", "openai")
    with building("openai") as handle:
        for owner, methods in _targets(client):
            patch_methods(handle, owner, methods)
    return handle
