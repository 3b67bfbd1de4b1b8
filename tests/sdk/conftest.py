"""Fixtures for the SDK tests: a loopback collector, and a Margin SDK configured against it
with the global OpenTelemetry state reset before and restored after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from collector import Collector
from opentelemetry import trace as trace_api
from opentelemetry.util._once import Once

from margin.sdk import runtime


@pytest.fixture
def otel_reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process with no global tracer provider and no Margin configuration; the previous
    global provider (another test module's) is put back afterwards."""
    monkeypatch.delenv("MARGIN_API_KEY", raising=False)
    monkeypatch.delenv("MARGIN_INGEST_KEY", raising=False)
    monkeypatch.delenv("MARGIN_BASE_URL", raising=False)
    saved = (trace_api._TRACER_PROVIDER, trace_api._TRACER_PROVIDER_SET_ONCE)
    runtime._reset()
    trace_api._TRACER_PROVIDER = None
    trace_api._TRACER_PROVIDER_SET_ONCE = Once()
    yield
    runtime._reset()
    trace_api._TRACER_PROVIDER, trace_api._TRACER_PROVIDER_SET_ONCE = saved


@pytest.fixture
def collector() -> Iterator[Collector]:
    fake = Collector()
    fake.start()
    yield fake
    fake.gate.set()
    fake.close()


Configure = Callable[..., None]


@pytest.fixture
def sdk(otel_reset: None, collector: Collector, tmp_path: Path) -> Configure:
    """Call to configure Margin against the collector (keyword overrides allowed)."""

    def configure(**overrides: Any) -> None:
        options: dict[str, Any] = {
            "api_key": "mk_test",
            "base_url": collector.url,
            "spool_dir": tmp_path / "spool",
            "export_interval": 0.05,
            "retry_backoff": 0.01,
            "timeout": 5.0,
        }
        options.update(overrides)
        assert runtime.configure(**options)

    return configure
