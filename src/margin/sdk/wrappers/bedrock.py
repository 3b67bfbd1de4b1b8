"""AWS Bedrock (boto3 ``bedrock-runtime``): ``converse`` and ``converse_stream``.

botocore builds client classes at runtime, so there is no stable class to patch: with no
client given, Margin hooks ``ClientCreator.create_client`` and instruments every
``bedrock-runtime`` client created afterwards.
"""

from __future__ import annotations

from typing import Any

from margin._fields import dig
from margin.sdk.wrappers._guard import guard
from margin.sdk.wrappers._patch import (
    CallSpec,
    Instrumentation,
    building,
    patch,
    patch_methods,
    require,
)
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers._stream import StreamObserver, StreamProxy
from margin.usage import bedrock_usage

__all__ = ["instrument_bedrock"]

PROVIDER = "aws.bedrock"
SERVICE = "bedrock-runtime"


def _request_id(result: Any) -> str | None:
    value = dig(result, "ResponseMetadata", "RequestId")
    return value if isinstance(value, str) else None


class _Observer(StreamObserver):
    def __init__(self) -> None:
        self.usage: Any = None
        self.stop: Any = None
        self.text: list[str] = []

    def observe(self, item: Any) -> bool:
        if "metadata" in item:
            self.usage = dig(item, "metadata", "usage")
        elif "messageStop" in item:
            self.stop = dig(item, "messageStop", "stopReason")
        elif "contentBlockDelta" in item:
            self.text.append(str(dig(item, "contentBlockDelta", "delta", "text") or ""))
        return True

    def done(self, rec: SpanRecorder) -> None:
        rec.response(finish=self.stop)
        rec.usage(bedrock_usage(self.usage))
        if self.text:
            rec.output_messages(
                [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self.text)}]}]
            )


class _Converse(CallSpec):
    provider = PROVIDER
    operation = "chat"

    def __init__(self, stream: bool) -> None:
        self._stream = stream

    def model(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        model = kwargs.get("modelId")
        return model if isinstance(model, str) else None

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return self._stream

    def begin(self, rec: SpanRecorder, kwargs: dict[str, Any]) -> None:
        rec.input_messages(kwargs.get("messages"), kwargs.get("system"))

    def finish(self, rec: SpanRecorder, result: Any, state: Any) -> None:
        rec.set("aws.request_id", _request_id(result))
        rec.response(finish=dig(result, "stopReason"))
        rec.usage(bedrock_usage(dig(result, "usage")))
        if rec.content:
            message = dig(result, "output", "message")
            parts = [
                {"type": "text", "content": dig(c, "text")}
                for c in dig(message, "content") or []
                if "text" in c
            ]
            rec.output_messages([{"role": "assistant", "parts": parts}])

    def stream(self, rec: SpanRecorder, result: Any, state: Any) -> Any:
        rec.set("aws.request_id", _request_id(result))
        if not isinstance(result, dict) or "stream" not in result:
            rec.end()
            return result
        # A shallow copy, so the caller's dict is the SDK's except for the proxied stream.
        return {**result, "stream": StreamProxy(result["stream"], rec, _Observer())}


_METHODS: list[tuple[str, CallSpec]] = [
    ("converse", _Converse(stream=False)),
    ("converse_stream", _Converse(stream=True)),
]


def _is_bedrock_runtime(client: Any) -> bool:
    return bool(dig(client, "meta", "service_model", "service_name") == SERVICE)


def instrument_bedrock(client: Any = None) -> Instrumentation:
    """Trace Bedrock Converse calls: one ``bedrock-runtime`` client, or every one created
    from now on when ``client`` is None."""
    botocore_client = require("botocore.client", "bedrock")
    require("boto3", "bedrock")
    with building("bedrock") as handle:
        if client is not None:
            patch_methods(handle, client, _METHODS)
            return handle

        def make(original: Any) -> Any:
            def create_client(*args: Any, **kwargs: Any) -> Any:
                created = original(*args, **kwargs)
                with guard("bedrock create_client"):
                    if _is_bedrock_runtime(created):
                        patch_methods(handle, created, _METHODS)
                return created

            return create_client

        patch(handle, botocore_client.ClientCreator, "create_client", make)
        return handle
