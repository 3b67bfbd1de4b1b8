"""Span capture for the wrapper tests.

The global tracer provider can be set once per process, so one session-wide SDK provider
(or the one another test module already installed) gets our in-memory exporter, which is
cleared before every test.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from wrapper_helpers import SpanGetter

_exporter = InMemorySpanExporter()
_attached: weakref.WeakSet[TracerProvider] = weakref.WeakSet()


def _install() -> None:
    # Other SDK tests swap the global provider and put it back; attach to whichever is
    # current, once per provider.
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if provider not in _attached:
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        _attached.add(provider)


@pytest.fixture
def spans() -> Iterator[SpanGetter]:
    """Returns the finished spans Margin's wrappers made during this test."""
    _install()
    _exporter.clear()

    def get() -> list[ReadableSpan]:
        return [
            s
            for s in _exporter.get_finished_spans()
            if s.instrumentation_scope is not None and s.instrumentation_scope.name == "margin"
        ]

    yield get
    _exporter.clear()
