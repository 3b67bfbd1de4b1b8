"""margin.trace: scope attributes on every span, one trace id, isolation, tokens, prompts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextvars import copy_context

import pytest
from collector import Collector, ReceivedSpan
from opentelemetry import trace as trace_api

import margin
from margin.sdk._context import current_scope

Configure = Callable[..., None]  # the `sdk` fixture's type (tests/sdk/conftest.py)


def _flush(collector: Collector) -> list[ReceivedSpan]:
    assert margin.flush(timeout=10)
    return collector.spans


def _by_name(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def test_context_manager_stamps_every_span_including_other_instrumentation(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    other = trace_api.get_tracer("someone.else")
    metadata = {"plan": "pro", "n": 3, "deep": {"k": "v"}}
    with (
        margin.trace("cus_1", "agent_1", metadata=metadata),
        other.start_as_current_span("chat gpt-4o") as span,
    ):
        span.set_attribute("gen_ai.usage.input_tokens", 10)
    with other.start_as_current_span("unrelated"):
        pass
    spans = _flush(collector)
    assert sorted(s.name for s in spans) == ["chat gpt-4o", "margin.trace"]
    root, child = _by_name(spans, "margin.trace")[0], _by_name(spans, "chat gpt-4o")[0]
    assert child.trace_id == root.trace_id
    assert child.parent_span_id == root.span_id
    expected = {
        "margin.customer.external_id": "cus_1",
        "margin.agent.external_id": "agent_1",
        "external_customer_id": "cus_1",
        "external_agent_id": "agent_1",
        "margin.metadata.plan": "pro",
        "margin.metadata.n": 3,
        "margin.metadata.deep.k": "v",
    }
    assert root.attributes == expected
    assert child.attributes == {**expected, "gen_ai.usage.input_tokens": 10}


def test_decorators_sync_and_async_and_async_with(sdk: Configure, collector: Collector) -> None:
    sdk()

    @margin.trace("cus_sync")
    def work(x: int) -> int:
        assert current_scope() is not None
        return x * 2

    @margin.trace("cus_async", "a")
    async def awork(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    async def block() -> str | None:
        async with margin.trace("cus_block"):
            scope = current_scope()
            return scope.customer if scope else None

    assert work(21) == 42
    assert asyncio.run(awork(1)) == 2
    assert asyncio.run(block()) == "cus_block"
    assert current_scope() is None
    customers = sorted(s.attributes["margin.customer.external_id"] for s in _flush(collector))
    assert customers == ["cus_async", "cus_block", "cus_sync"]


def test_a_unit_is_stamped_on_every_span_of_its_trace(sdk: Configure, collector: Collector) -> None:
    sdk()
    other = trace_api.get_tracer("someone.else")

    @margin.trace("cus_u", unit="team-b")
    def work() -> None:
        with other.start_as_current_span("inner"):
            margin.signal("done")

    with margin.trace("cus_u", "sdr", unit="team-a"), other.start_as_current_span("chat"):
        pass
    work()
    with margin.trace("cus_u"):  # no unit: the customer's own
        pass
    unit = "margin.customer_unit.external_id"
    spans = _flush(collector)
    seen = sorted((s.name, s.attributes.get(unit, "")) for s in spans)
    assert seen == [
        ("chat", "team-a"),
        ("inner", "team-b"),
        ("margin.signal", "team-b"),
        ("margin.trace", ""),
        ("margin.trace", "team-a"),
        ("margin.trace", "team-b"),
    ]


def test_exception_propagates_and_marks_span_error(sdk: Configure, collector: Collector) -> None:
    sdk()
    with pytest.raises(ValueError, match="boom"), margin.trace("cus_err"):
        raise ValueError("boom")
    (span,) = _flush(collector)
    assert span.status_code == 2  # STATUS_CODE_ERROR
    assert current_scope() is None


def test_nested_scopes_restore_outer(sdk: Configure, collector: Collector) -> None:
    sdk()
    tracer = trace_api.get_tracer("t")
    with margin.trace("outer"):
        with margin.trace("inner", "ag"):
            tracer.start_span("in-inner").end()
        tracer.start_span("in-outer").end()
    spans = {
        s.name + ":" + s.attributes["margin.customer.external_id"]: s for s in _flush(collector)
    }
    assert set(spans) == {
        "in-inner:inner",
        "in-outer:outer",
        "margin.trace:inner",
        "margin.trace:outer",
    }
    assert "margin.agent.external_id" not in spans["in-outer:outer"].attributes
    assert len({s.trace_id for s in spans.values()}) == 1


def test_one_trace_object_entered_twice_unwinds_in_order(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    tracer = trace_api.get_tracer("t")
    scope = margin.trace("cus_twice")
    with scope:
        outer = trace_api.get_current_span().get_span_context()
        with scope:
            inner = trace_api.get_current_span().get_span_context()
            tracer.start_span("in-inner").end()
        assert trace_api.get_current_span().get_span_context() == outer
        tracer.start_span("in-outer").end()
    assert current_scope() is None
    assert not trace_api.get_current_span().get_span_context().is_valid
    spans = _flush(collector)
    outer_id, inner_id = f"{outer.span_id:016x}", f"{inner.span_id:016x}"
    roots = {s.span_id: s for s in _by_name(spans, "margin.trace")}
    assert set(roots) == {outer_id, inner_id}
    assert roots[inner_id].parent_span_id == outer_id
    (in_inner,) = _by_name(spans, "in-inner")
    (in_outer,) = _by_name(spans, "in-outer")
    assert in_inner.parent_span_id == inner_id
    assert in_outer.parent_span_id == outer_id


def test_an_unhashable_customer_or_agent_is_recorded_not_raised(
    sdk: Configure, collector: Collector
) -> None:
    sdk()
    with margin.trace("cus_1", ["agent", "list"]):  # type: ignore[arg-type]
        pass
    with margin.trace(["cus", "list"], "agent"):  # type: ignore[arg-type]
        pass
    spans = _by_name(_flush(collector), "margin.trace")
    assert len(spans) == 2


def test_scopes_repeated_or_equal_across_types_each_carry_their_own_values(
    sdk: Configure, collector: Collector
) -> None:
    """Scopes without metadata are made once per arguments; values that are equal but of
    another type (1 and True, 1 and 1.0), or metadata, never take another scope's."""
    sdk()
    calls = [
        ("cus_1", "agent", None),
        ("cus_1", "agent", None),  # the same scope again
        (1, "agent", None),
        (True, "agent", None),
        (1.0, "agent", None),
        ("cus_1", 1, None),
        ("cus_1", True, None),
        ("cus_1", "agent", {"plan": "pro"}),
        ("cus_1", "agent", {"plan": "free"}),
        ("cus_1", "agent", None),  # metadata did not stick to the cached scope
    ]
    for customer, agent, metadata in calls:
        with margin.trace(customer, agent, metadata=metadata):  # type: ignore[arg-type]
            scope = current_scope()
            assert scope is not None
            assert type(scope.customer) is type(customer)
            assert scope.customer == customer
            assert type(scope.agent) is type(agent)
            assert scope.agent == agent
    spans = _by_name(_flush(collector), "margin.trace")  # in the order they ended
    seen = [
        (
            s.attributes["margin.customer.external_id"],
            s.attributes["margin.agent.external_id"],
            s.attributes.get("margin.metadata.plan"),
        )
        for s in spans
    ]
    assert seen == [
        ("cus_1", "agent", None),
        ("cus_1", "agent", None),
        (1, "agent", None),
        (True, "agent", None),
        (1.0, "agent", None),
        ("cus_1", 1, None),
        ("cus_1", True, None),
        ("cus_1", "agent", "pro"),
        ("cus_1", "agent", "free"),
        ("cus_1", "agent", None),
    ]
    assert [type(s.attributes["margin.customer.external_id"]) for s in spans[2:5]] == [
        int,
        bool,
        float,
    ]


async def test_concurrent_tasks_do_not_leak(sdk: Configure, collector: Collector) -> None:
    sdk()
    tracer = trace_api.get_tracer("t")

    async def job(i: int) -> None:
        async with margin.trace(f"cus_{i}"):
            for _ in range(3):
                await asyncio.sleep(0)
                tracer.start_span(f"step_{i}").end()

    await asyncio.gather(*(job(i) for i in range(20)))
    spans = _flush(collector)
    steps = [s for s in spans if s.name.startswith("step_")]
    assert len(steps) == 60
    for span in steps:
        assert span.attributes["margin.customer.external_id"] == "cus_" + span.name[5:]
    roots = {
        s.attributes["margin.customer.external_id"]: s.trace_id
        for s in _by_name(spans, "margin.trace")
    }
    assert len(set(roots.values())) == 20
    for span in steps:
        assert span.trace_id == roots["cus_" + span.name[5:]]


def test_threads_do_not_leak(sdk: Configure, collector: Collector) -> None:
    sdk()
    tracer = trace_api.get_tracer("t")
    barrier = threading.Barrier(8)

    def job(i: int) -> None:
        with margin.trace(f"cus_{i}"):
            barrier.wait()
            tracer.start_span(f"step_{i}").end()

    threads = [threading.Thread(target=copy_context().run, args=(job, i)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    steps = [s for s in _flush(collector) if s.name.startswith("step_")]
    assert sorted(s.name for s in steps) == sorted(f"step_{i}" for i in range(8))
    for span in steps:
        assert span.attributes["margin.customer.external_id"] == "cus_" + span.name[5:]


def test_token_sets_trace_id_across_scopes(sdk: Configure, collector: Collector) -> None:
    sdk()
    token = margin.new_trace_token()
    assert len(token) == 32
    assert token == token.lower()
    int(token, 16)
    with margin.trace("cus_1", token=token):
        pass
    with margin.trace("cus_1", token=token):
        margin.signal("done", cost_tracing=True)
    spans = _flush(collector)
    assert len(spans) == 3
    assert {s.trace_id for s in spans} == {token}


def test_invalid_token_is_ignored_not_raised(sdk: Configure, collector: Collector) -> None:
    sdk()
    with margin.trace("cus_1", token="not-a-token"):
        pass
    (span,) = _flush(collector)
    assert span.trace_id != "not-a-token"


def _prompt_span(store_prompt: bool) -> None:
    tracer = trace_api.get_tracer("t")
    with margin.trace("cus_p", store_prompt=store_prompt):
        span = tracer.start_span("chat")
        span.set_attributes(
            {
                "gen_ai.input.messages": "[secret]",
                "gen_ai.output.messages": "[answer]",
                "gen_ai.system_instructions": "sys",
                "gen_ai.prompt.0.content": "p",
                "gen_ai.completion.0.content": "c",
                "llm.input_messages.0.message.content": "x",
                "llm.output_messages.0.message.content": "y",
                "input.value": "i",
                "output.value": "o",
                "gen_ai.usage.input_tokens": 5,
            }
        )
        span.add_event("gen_ai.user.message", {"content": "secret"})
        span.end()


def test_prompts_are_stripped_by_default(sdk: Configure, collector: Collector) -> None:
    sdk()
    _prompt_span(store_prompt=False)
    (chat,) = _by_name(_flush(collector), "chat")
    assert chat.attributes == {
        "margin.customer.external_id": "cus_p",
        "external_customer_id": "cus_p",
        "gen_ai.usage.input_tokens": 5,
    }
    assert all("secret" not in str(s.attributes) for s in collector.spans)


def test_prompts_are_kept_with_store_prompt(sdk: Configure, collector: Collector) -> None:
    sdk()
    _prompt_span(store_prompt=True)
    (chat,) = _by_name(_flush(collector), "chat")
    assert chat.attributes["gen_ai.input.messages"] == "[secret]"
    assert chat.attributes["output.value"] == "o"
    assert chat.attributes["margin.store_prompt"] is True


def test_without_api_key_trace_is_a_noop(otel_reset: None) -> None:
    @margin.trace("cus_1")
    def work() -> str:
        margin.signal("done")
        return "ok"

    assert work() == "ok"
    with margin.trace("cus_2"):
        assert current_scope() is not None
    assert margin.flush(timeout=1)
    assert margin.delivery_stats()["enqueued"] == 0
    # Without a key Margin leaves the global OpenTelemetry state alone.
    assert isinstance(trace_api.get_tracer_provider(), trace_api.ProxyTracerProvider)


def test_existing_sdk_provider_is_reused(
    otel_reset: None, collector: Collector, tmp_path: object
) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    trace_api.set_tracer_provider(provider)
    assert margin.configure("mk", collector.url, spool_dir=str(tmp_path), export_interval=0.05)
    assert trace_api.get_tracer_provider() is provider
    with margin.trace("cus_1"):
        provider.get_tracer("x").start_span("theirs").end()
    assert sorted(s.name for s in _flush(collector)) == ["margin.trace", "theirs"]
    provider.shutdown()
