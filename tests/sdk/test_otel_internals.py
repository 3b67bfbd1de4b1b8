"""The OpenTelemetry internals Margin uses (``margin.sdk._otel``), against the installed
release: the newest of the range ``pyproject.toml`` allows. A release that moves one of them
fails here, not in a user's process."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from collector import Collector
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


_MOVED = """
import sys
import types

import opentelemetry.exporter.otlp.proto.common._internal as internal


class Moved(types.ModuleType):  # as a release that moved a private helper: not importable
    def __getattribute__(self, name):
        if name == "_encode_value":
            raise AttributeError(name)
        return super().__getattribute__(name)


internal.__class__ = Moved
import margin
from margin.sdk import _record, payloads

assert not payloads._FAST_ENCODER and not _record.enabled
margin.configure("mk_test", sys.argv[1], spool_dir=sys.argv[2], export_interval=0.05)
with margin.trace("cus_moved", "agent_moved"):
    with margin.trace("cus_moved", "agent_moved", metadata={"step": "inner"}):
        pass
assert margin.flush(timeout=10)
print(margin.delivery_stats()["exported"])
"""


def test_spans_are_delivered_by_the_public_encoder_when_the_private_helpers_moved(
    collector: Collector, tmp_path: Path
) -> None:
    """Should a release move the exporter's private helpers, ``import margin`` still works
    and spans go out through OpenTelemetry's public encoder: nothing on the tracing path
    imports Margin's own encoder."""
    done = subprocess.run(
        [sys.executable, "-c", _MOVED, collector.url, str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2"]
    assert len(collector.spans) == 2
    assert {span.attributes["margin.customer.external_id"] for span in collector.spans} == {
        "cus_moved"
    }
    outer, inner = sorted(collector.spans, key=lambda span: span.parent_span_id != "")
    assert inner.parent_span_id == outer.span_id
    assert inner.trace_id == outer.trace_id
