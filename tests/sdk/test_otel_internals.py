"""The OpenTelemetry internals Margin uses (``margin.sdk._otel``), against the installed
release: the newest of the range ``pyproject.toml`` allows. A release that moves one of them
fails here, not in a user's process."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from margin.sdk import _otel
from margin.sdk._wire import encode_request

PACKAGES = (
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-common",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-proto",
)
PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def _minor(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_installed_release_is_the_newest_the_pinned_range_allows(package: str) -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    [spec] = [d for d in declared if d.startswith(f"{package}>")]
    floor, ceiling = re.fullmatch(rf"{package}>=([\d.]+),<([\d.]+)", spec).groups()  # type: ignore[union-attr]
    installed = _minor(version(package))
    assert _minor(floor) <= installed < _minor(ceiling)
    # The ceiling is the next minor release: what is installed is the newest series allowed.
    assert (installed[0], installed[1] + 1) == _minor(ceiling), (package, installed, ceiling)
    # And the installed package metadata says the same range.
    clauses = {f">={floor}", f"<{ceiling}"}
    installed_specs = [r[len(package) :].split(";")[0] for r in requires("margin") or ()]
    assert any(
        set(s.replace(" ", "").split(",")) == clauses
        for r, s in zip(requires("margin") or (), installed_specs, strict=True)
        if re.match(rf"{package}[<>=]", r)
    ), spec


def test_span_processors_are_read_and_change_with_each_added_processor() -> None:
    provider = TracerProvider()
    assert _otel.span_processors(provider) == ()
    processor = SimpleSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(processor)
    first = _otel.span_processors(provider)
    assert first == (processor,)
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert _otel.span_processors(provider) is not first
    assert _otel.provider_disabled(provider) is False


def test_readable_parts_and_the_private_encoders_encode_as_the_exporter() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t", "1.0").start_as_current_span("s", attributes={"k": "v"}) as s:
        s.add_event("e", {"n": 1})
    [done] = exporter.get_finished_spans()
    attributes, events, links = _otel.readable_parts(done)
    assert dict(_otel.attribute_items(attributes)) == {"k": "v"}
    assert [e.name for e in events] == ["e"]
    assert list(links) == []
    encoders = _otel.wire_encoders()
    assert encoders.kinds[SpanKind.CLIENT] == 3
    assert encode_request([done]) == encode_spans([done]).SerializeToString()


def test_the_context_var_and_span_key_are_those_of_the_context_api() -> None:
    from opentelemetry import context as otel_context
    from opentelemetry import trace as trace_api
    from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, SpanContext

    assert _otel.context_var() is not None
    span = NonRecordingSpan(SpanContext(5, 6, False))
    token = _otel.attach(trace_api.set_span_in_context(span))
    try:
        assert _otel.get_context() is otel_context.get_current()
        assert _otel.get_context().get(_otel.SPAN_KEY) is span
        assert trace_api.get_current_span() is span
    finally:
        _otel.reset(token)
    assert trace_api.get_current_span() is INVALID_SPAN
