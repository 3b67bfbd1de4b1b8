"""Helpers shared by the wrapper tests: fixtures on disk, mock transports, span lookup."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

FIXTURES = Path(__file__).parents[2] / "fixtures" / "providers"

SpanGetter = Callable[[], list[ReadableSpan]]


def fixture_text(name: str) -> str:
    """A provider response fixture as text."""
    return (FIXTURES / name).read_text()


def fixture_json(name: str) -> Any:
    """A provider response fixture, parsed."""
    return json.loads(fixture_text(name))


def one_span(get: SpanGetter) -> ReadableSpan:
    """The single Margin span of the test."""
    found = get()
    assert len(found) == 1, [s.name for s in found]
    return found[0]
