"""``autoinstrument``, missing optional providers, and tracing failures never reaching callers."""

from __future__ import annotations

import sys
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry import trace
from wrapper_helpers import SpanGetter, fixture_json

import margin
from margin.sdk import instrument
from margin.sdk.instrument import LIBRARIES, autoinstrument, instrument_mistral


def openai_client() -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=fixture_json("openai_chat.json"))

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(api_key="sk-test", http_client=http)


def chat(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    )


def test_package_root_exposes_instrumentation_lazily() -> None:
    assert margin.instrument_openai is instrument.instrument_openai
    assert margin.autoinstrument is autoinstrument


def test_autoinstrument_everything_installed_then_revert(spans: SpanGetter) -> None:
    handles = autoinstrument()
    try:
        assert sorted(h.name for h in handles) == sorted(LIBRARIES)
        assert all(h.active for h in handles)
        assert not any(h.active for h in autoinstrument())  # a second pass changes nothing
        chat(openai_client())
        assert len(spans()) == 1
    finally:
        for handle in handles:
            handle.uninstrument()
    chat(openai_client())
    assert len(spans()) == 1


def test_autoinstrument_skips_missing_and_rejects_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    handles = autoinstrument(["bedrock", "mistral"])
    try:
        assert [h.name for h in handles] == ["mistral"]
    finally:
        for handle in handles:
            handle.uninstrument()
    with pytest.raises(ValueError, match="unknown libraries"):
        autoinstrument(["cohere"])


def test_missing_provider_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mistralai.client.chat", None)
    with pytest.raises(ImportError, match=r"pip install 'margin\[mistral\]'"):
        instrument_mistral()
    monkeypatch.delitem(sys.modules, "margin.sdk.wrappers.langchain")
    monkeypatch.setitem(sys.modules, "langchain_core.callbacks", None)
    with pytest.raises(ImportError, match=r"pip install 'margin\[langchain\]'"):
        instrument.instrument_langchain()


def test_tracing_failure_never_breaks_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_tracer(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer exploded")

    client = openai_client()
    with instrument.instrument_openai(client):
        monkeypatch.setattr(trace, "get_tracer", broken_tracer)
        assert chat(client).id == "chatcmpl-abc123"
        assert chat(client).usage is not None
