"""Margin's own spans without the OpenTelemetry SDK: when they are used, what they record, and
that a provider with a processor of your own still gets Margin's spans through the SDK."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from collector import Collector, ReceivedSpan
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

import margin
from margin.sdk import _record
from margin.sdk._lightspan import LightSpan
from margin.sdk.instrument import instrument_anthropic, instrument_openai
from margin.sdk.runtime import current_runtime
from margin.sdk.wrappers import openai as openai_wrapper
from margin.sdk.wrappers._patch import wrap_sync
from margin.sdk.wrappers.openai import _Chat

Configure = Callable[..., None]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "providers"
MESSAGES: list[Any] = [{"role": "user", "content": "Capital of France?"}]


def _flush(collector: Collector) -> list[ReceivedSpan]:
    assert margin.flush(timeout=10)
    return collector.spans


def _light(sink: Callable[[LightSpan], None]) -> LightSpan:
    return LightSpan(
        "s",
        {},
        SpanKind.INTERNAL,
        Context(),
        Resource.create(),
        InstrumentationScope("margin"),
        sink,
    )


def test_margin_owned_provider_records_margin_spans_directly(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    runtime = current_runtime()
    assert runtime is not None
    assert runtime.records_directly()
    with margin.trace("cus_1", "agent_1"):
        root = trace_api.get_current_span()
        margin.signal("done", cost_tracing=True)
    assert isinstance(root, LightSpan)
    spans = _flush(collector)
    assert sorted(s.name for s in spans) == ["margin.signal", "margin.trace"]
    trace_span = next(s for s in spans if s.name == "margin.trace")
    signal_span = next(s for s in spans if s.name == "margin.signal")
    assert signal_span.trace_id == trace_span.trace_id
    assert signal_span.parent_span_id == trace_span.span_id
    assert signal_span.attributes["margin.signal.cost_tracing"] is True
    assert signal_span.attributes["margin.customer.external_id"] == "cus_1"


def test_your_own_processor_gets_margin_spans_through_the_sdk(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    provider = trace_api.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = current_runtime()
    assert runtime is not None
    assert not runtime.records_directly()
    with margin.trace("cus_1"):
        assert not isinstance(trace_api.get_current_span(), LightSpan)
        margin.signal("done")
    yours = sorted(s.name for s in exporter.get_finished_spans())
    assert yours == ["margin.signal", "margin.trace"]
    assert sorted(s.name for s in _flush(collector)) == yours


def test_a_sampler_of_your_own_is_obeyed(
    otel_reset: None, collector: Collector, tmp_path: Path
) -> None:
    trace_api.set_tracer_provider(TracerProvider(sampler=ALWAYS_OFF))
    assert margin.configure("mk", collector.url, spool_dir=tmp_path, export_interval=0.05)
    runtime = current_runtime()
    assert runtime is not None
    assert not runtime.records_directly()
    with margin.trace("cus_1"):
        margin.signal("done")
    assert _flush(collector) == []


def test_span_api_semantics() -> None:
    ended: list[LightSpan] = []
    span = _light(ended.append)
    span.set_attribute("ids", [1, 2])
    span.set_attribute("obj", Path("/x"))
    span.set_attributes({"n": 1, "flag": True})
    span.update_name("renamed")
    span.set_status(StatusCode.UNSET)
    assert span.status.status_code is StatusCode.UNSET
    span.set_status(Status(StatusCode.OK))
    span.set_status(StatusCode.ERROR, "ignored once OK")
    assert span.status.status_code is StatusCode.OK
    try:
        raise ValueError("bad")
    except ValueError as exc:
        span.record_exception(exc, {"extra": 1})
    span.add_link(SpanContext(3, 4, True), {"l": 1})
    span.add_link(SpanContext(0, 0, False))  # invalid: ignored
    assert span.is_recording()
    span.end()
    span.end()
    span.set_attribute("late", 1)
    span.add_event("late")
    assert ended == [span]
    assert not span.is_recording()
    assert span.name == "renamed"
    assert span.attributes == {"ids": (1, 2), "obj": "/x", "n": 1, "flag": True}
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad"
    assert event.attributes["extra"] == 1
    assert len(span.links) == 1
    assert span.end_time is not None
    assert span.end_time >= span.start_time


def test_span_contexts_and_records_name_the_same_ids_and_parents() -> None:
    """A span's ``SpanContext`` is built when asked for: it is the one OpenTelemetry would
    build of the span's ids, every time the same object, and the span's record (what is
    delivered) carries the same ids and its parent's, for a root, a child of a LightSpan
    and a child of another tracer's remote span."""
    queued: list[Any] = []
    resource, scope = Resource.create(), InstrumentationScope("margin")

    def light(context: Context) -> LightSpan:
        return LightSpan("s", {}, SpanKind.INTERNAL, context, resource, scope, queued.append)

    root = light(Context())
    child = light(set_span_in_context(root))
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(TraceFlags.SAMPLED))
    far = light(set_span_in_context(NonRecordingSpan(remote)))
    for span, trace_id, parent in (
        (root, root.context.trace_id, None),
        (child, root.context.trace_id, root.context),
        (far, 0xABC, remote),
    ):
        context = span.get_span_context()
        assert context is span.context is span.get_span_context()
        public = SpanContext(
            context.trace_id, context.span_id, False, TraceFlags(TraceFlags.SAMPLED)
        )
        assert context == public
        assert context.is_valid
        assert not context.is_remote
        assert context.trace_id == trace_id
        assert span.parent == parent
    for span in (child, far, root):
        span.end()
    records = {record[_record.SPAN_ID]: record for record in queued}
    expected = {
        root: (0, False),
        child: (root.context.span_id, False),
        far: (0xDEF, True),
    }
    for span, (parent_id, remote_parent) in expected.items():
        record = records[span.context.span_id]
        trace_id = record[_record.TRACE_HI] << 64 | record[_record.TRACE_LO]
        assert trace_id == span.context.trace_id
        assert record[_record.PARENT_ID] == parent_id
        assert record[_record.PARENT_REMOTE] is remote_parent


def test_context_manager_records_the_error() -> None:
    span = _light(lambda span: None)
    with pytest.raises(RuntimeError), span:
        raise RuntimeError("boom")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert span.end_time is not None


def test_a_failing_sink_never_raises() -> None:
    def sink(span: LightSpan) -> None:
        raise OSError("disk full")

    _light(sink).end()


class _OpenAI:
    """A loopback OpenAI: chat completions (plain and streamed), recording request bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if body.get("stream"):
            events = (FIXTURES / "openai_chat_stream.sse").read_text().strip().split("\n\n")
            if not (body.get("stream_options") or {}).get("include_usage"):
                events = [e for e in events if '"choices":[]' not in e]
            content = ("\n\n".join(events) + "\n\n").encode()
            return httpx2.Response(
                200, content=content, headers={"content-type": "text/event-stream"}
            )
        return httpx2.Response(200, json=json.loads((FIXTURES / "openai_chat.json").read_text()))


def test_wrapped_calls_record_exact_usage_without_the_sdk(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    server = _OpenAI()
    client = openai.OpenAI(
        api_key="sk-test", http_client=httpx2.Client(transport=httpx2.MockTransport(server))
    )
    with instrument_openai(client):
        # Outside a trace nothing would be exported: the call goes out untouched.
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        with margin.trace("cus_1", "sdr"):
            root = trace_api.get_current_span().get_span_context()
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            chunks = list(
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            )
    assert "stream_options" not in server.bodies[0]
    assert server.bodies[2]["stream_options"] == {"include_usage": True}
    assert len(chunks) == 4  # the usage-only chunk Margin asked for stays hidden
    spans = _flush(collector)
    chats = [s for s in spans if s.name == "chat gpt-4o"]
    assert len(chats) == 2
    for chat in chats:
        assert chat.trace_id == f"{root.trace_id:032x}"
        assert chat.parent_span_id == f"{root.span_id:016x}"
        attrs = chat.attributes
        assert attrs["gen_ai.usage.input_tokens"] == 1200
        assert attrs["gen_ai.usage.output_tokens"] == 300
        assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1000
        assert attrs["gen_ai.usage.cache_write.input_tokens"] == 150
        assert attrs["gen_ai.usage.reasoning.output_tokens"] == 200
        assert attrs["gen_ai.provider.name"] == "openai"
        assert attrs["margin.customer.external_id"] == "cus_1"
        assert attrs["margin.agent.external_id"] == "sdr"
        assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert {c.attributes["gen_ai.response.id"] for c in chats} == {"chatcmpl-abc123", "chatcmpl-s1"}
    assert sorted(s.name for s in spans) == ["chat gpt-4o", "chat gpt-4o", "margin.trace"]


def _anthropic(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    if body["model"] == "claude-broken":
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
        return httpx2.Response(529, json=error)
    if body.get("stream"):
        content = (FIXTURES / "anthropic_stream.sse").read_bytes()
        return httpx2.Response(200, content=content, headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, json=json.loads((FIXTURES / "anthropic_message.json").read_text()))


async def test_anthropic_streams_and_errors_without_the_sdk(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    sync = anthropic.Anthropic(
        api_key="sk-ant-test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(_anthropic)),
        max_retries=0,
    )
    async_client = anthropic.AsyncAnthropic(
        api_key="sk-ant-test",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(_anthropic)),
        max_retries=0,
    )
    model, messages = "claude-sonnet-5", [{"role": "user", "content": "Say hello in French"}]
    with instrument_anthropic(sync), instrument_anthropic(async_client):
        async with margin.trace("cus_1", "sdr"):
            with sync.messages.stream(model=model, max_tokens=64, messages=messages) as stream:
                assert "".join(stream.text_stream) == "Bonjour!"
            events = await async_client.messages.create(
                model=model, max_tokens=64, messages=messages, stream=True
            )
            assert [e.type async for e in events][-1] == "message_stop"
            with pytest.raises(anthropic.InternalServerError):
                sync.messages.create(model="claude-broken", max_tokens=64, messages=messages)
    spans = _flush(collector)
    streamed = [s for s in spans if s.name == f"chat {model}"]
    assert len(streamed) == 2
    for span in streamed:
        # message_start says 1 output token; the last message_delta says 257 in all.
        assert span.attributes["gen_ai.usage.output_tokens"] == 257
        assert span.attributes["gen_ai.usage.input_tokens"] == 1350
        assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 1000
        assert span.attributes["gen_ai.usage.cache_write.input_tokens"] == 150
        assert span.attributes["gen_ai.response.id"] == "msg_stream1"
    (failed,) = [s for s in spans if s.name == "chat claude-broken"]
    assert failed.status_code == StatusCode.ERROR.value
    assert failed.attributes["error.type"] == "OverloadedError"
    assert "gen_ai.usage.output_tokens" not in failed.attributes


def test_a_plain_result_is_read_on_the_delivery_thread_with_the_calls_prompt_choice(
    sdk: Configure, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The caller gets its result without waiting for Margin to read it: the span ends with
    # the request's attributes, and usage, response id and (when the trace asked for them)
    # the completion are read when the span is encoded, on another thread, without the
    # caller's context — yet exactly as if read in the call. (A chat completion of the usual
    # shape is read at once instead: see the next test; here the short read declines it.)
    sdk()
    monkeypatch.setattr(openai_wrapper._Chat, "read_now", lambda self, result: None)
    ended: list[LightSpan] = []
    original = LightSpan.end_deferred

    def spy(span: LightSpan, reader: Callable[[], None]) -> None:
        ended.append(span)
        original(span, reader)

    monkeypatch.setattr(LightSpan, "end_deferred", spy)
    readers: set[str] = set()
    read = openai_wrapper._Chat.finish

    def finish(self: Any, rec: Any, result: Any, state: Any) -> None:
        readers.add(threading.current_thread().name)
        read(self, rec, result, state)

    monkeypatch.setattr(openai_wrapper._Chat, "finish", finish)
    client = openai.OpenAI(
        api_key="sk-test", http_client=httpx2.Client(transport=httpx2.MockTransport(_OpenAI()))
    )
    with instrument_openai(client):
        with margin.trace("cus_1", "sdr", store_prompt=True):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        with margin.trace("cus_2", "sdr"):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(ended) == 2
    for span in ended:
        assert "gen_ai.usage.input_tokens" not in span.attributes  # not read on our thread
        assert span.attributes["gen_ai.request.model"] == "gpt-4o"
    assert "gen_ai.input.messages" in ended[0].attributes  # the request side is read at once
    chats = sorted(
        (s for s in _flush(collector) if s.name == "chat gpt-4o"),
        key=lambda s: s.attributes["margin.customer.external_id"],
    )
    assert readers == {"margin-delivery"}
    assert [c.attributes["gen_ai.usage.input_tokens"] for c in chats] == [1200, 1200]
    assert [c.attributes["gen_ai.response.id"] for c in chats] == ["chatcmpl-abc123"] * 2
    assert "gen_ai.output.messages" in chats[0].attributes  # store_prompt=True
    assert "gen_ai.output.messages" not in chats[1].attributes
    assert "gen_ai.input.messages" not in chats[1].attributes


def test_a_usual_chat_completion_is_read_at_once_on_the_callers_thread(
    sdk: Configure, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading an SDK ChatCompletion with int counts is quicker than keeping it (and every
    # object it holds) alive until delivery: the span ends with its usage already on it.
    sdk()
    deferred: list[LightSpan] = []
    monkeypatch.setattr(LightSpan, "end_deferred", lambda span, reader: deferred.append(span))
    client = openai.OpenAI(
        api_key="sk-test", http_client=httpx2.Client(transport=httpx2.MockTransport(_OpenAI()))
    )
    with instrument_openai(client), margin.trace("cus_1", "sdr"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert deferred == []
    (chat,) = [s for s in _flush(collector) if s.name == "chat gpt-4o"]
    expected = json.loads((FIXTURES / "openai_chat.json").read_text())
    assert chat.attributes["gen_ai.usage.input_tokens"] == 1200
    assert chat.attributes["gen_ai.response.id"] == expected["id"]
    assert "gen_ai.input.messages" not in chat.attributes


def test_a_failed_call_with_nothing_recorded_before_it_is_an_error_span(
    sdk: Configure, collector: Collector
) -> None:
    # A plain call (no stream, no prompt kept) makes no recorder unless it fails.
    sdk()

    def refuse(request: httpx2.Request) -> httpx2.Response:
        body = {"error": {"message": "bad model", "type": "invalid_request_error"}}
        return httpx2.Response(400, json=body)

    client = openai.OpenAI(
        api_key="sk-test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(refuse)),
    )
    with (
        instrument_openai(client),
        margin.trace("cus_1", "sdr"),
        pytest.raises(openai.BadRequestError),
    ):
        client.chat.completions.create(model="gpt-nope", messages=MESSAGES)
    (failed,) = [s for s in _flush(collector) if s.name == "chat gpt-nope"]
    assert failed.status_code == StatusCode.ERROR.value
    assert failed.attributes["error.type"] == "BadRequestError"
    assert failed.attributes["margin.customer.external_id"] == "cus_1"
    assert "gen_ai.usage.input_tokens" not in failed.attributes


def test_a_result_that_cannot_be_read_still_exports_its_span(
    sdk: Configure, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    class Unreadable:
        @property
        def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
            raise RuntimeError("gone")

        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("gone")

    result = Unreadable()
    sdk()
    wrapped = wrap_sync(lambda **kwargs: result, _Chat())
    with margin.trace("cus_1", "sdr"):
        assert wrapped(model="gpt-4o", messages=MESSAGES) is result
    chats = [s for s in _flush(collector) if s.name == "chat gpt-4o"]
    assert len(chats) == 1
    assert chats[0].attributes["gen_ai.request.model"] == "gpt-4o"
    assert "gen_ai.usage.input_tokens" not in chats[0].attributes
    assert "tracing failed in response (deferred)" in caplog.text


def test_a_direct_span_keeps_its_attribute_order_and_its_own_dict(sdk: Configure) -> None:
    # The fixed part of a call's attributes is cached by its arguments: each span still gets
    # its own dict, in the order fixed part, call attributes, scope.
    from margin.sdk._context import TraceScope
    from margin.sdk.wrappers._span import direct_span

    sdk()
    current = current_runtime()
    assert current is not None
    scope = TraceScope("cus_1", "agent")
    first = direct_span(current, scope, "chat", "openai", "gpt-4o", False, Context())
    first.set_attribute("extra", 1)
    second = direct_span(
        current, scope, "chat", "openai", "gpt-4o", False, Context(), {"a": "b", "n": None}
    )
    third = direct_span(current, scope, "chat", "openai", "gpt-4o", False, Context())
    fixed = ["gen_ai.operation.name", "gen_ai.provider.name", "margin.instrumentation"]
    fixed.append("gen_ai.request.model")
    assert list(second.attributes) == [*fixed, "a", *scope.attributes]
    assert list(third.attributes) == [*fixed, *scope.attributes]
    assert first.name == second.name == third.name == "chat gpt-4o"
