"""Canonical usage: the strict wire shape and every normalizer, fed real SDK objects."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import anthropic.types
import openai.types
import openai.types.audio
import openai.types.chat
import openai.types.responses
import pytest
from google.genai import types as genai_types
from mistralai.client import models as mistral_models

from margin.semconv import USAGE_ATTRIBUTES
from margin.usage import (
    USAGE_KEYS,
    SpanModel,
    SpanReader,
    Usage,
    anthropic_usage,
    bedrock_usage,
    canonical_provider,
    from_provider,
    from_span_attributes,
    gemini_usage,
    langchain_usage,
    mistral_usage,
    normalize_usage,
    openai_usage,
    usage_attributes,
)

FIXTURES = Path(__file__).parent / "fixtures" / "usage"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def span_model(attributes: dict[str, Any]) -> SpanModel:
    return SpanReader(attributes).model(attributes)


# --- the wire shape ------------------------------------------------------------------------


def test_to_dict_keeps_only_non_zero_counts() -> None:
    usage = Usage(input_tokens=10, output_tokens=0, cache_read_tokens=4)
    assert usage.to_dict() == {"input_tokens": 10, "cache_read_tokens": 4}
    assert Usage.from_dict(usage.to_dict()) == usage


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"input_token": 1}, "input_token"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": 1.5}, "output_tokens"),
        ({"output_tokens": "3"}, "output_tokens"),
        ({"images": True}, "images"),
    ],
)
def test_from_dict_is_strict_and_names_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=repr(key)):
        Usage.from_dict(data)


def test_normalize_usage_accepts_canonical_native_and_span_keys() -> None:
    assert normalize_usage({"input_tokens": 5, "total_tokens": 5}).to_dict() == {"input_tokens": 5}
    native = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    assert normalize_usage(native).to_dict() == {
        "input_tokens": 100,
        "cache_read_tokens": 60,
        "output_tokens": 20,
    }
    span = {
        "gen_ai.usage.input_tokens": 9,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.response.model": "gpt-4o",
        "server.address": "api.openai.com",
    }
    assert normalize_usage(span).to_dict() == {"input_tokens": 9, "output_tokens": 3}
    with pytest.raises(ValueError, match="'bogus'"):
        normalize_usage({"input_tokens": 5, "bogus": 1})


# --- provider responses (real SDK model objects) ----------------------------------------------


def test_openai_chat_completion_with_cache_and_reasoning() -> None:
    response = openai.types.chat.ChatCompletion.model_validate(_load("openai_chat.json"))
    assert from_provider(response).to_dict() == {
        "input_tokens": 12000,
        "cache_read_tokens": 10000,
        "output_tokens": 3000,
        "reasoning_tokens": 2000,
    }


def test_openai_responses_api() -> None:
    response = openai.types.responses.Response.model_validate(_load("openai_responses.json"))
    assert from_provider(response).to_dict() == {
        "input_tokens": 5000,
        "cache_read_tokens": 4000,
        "cache_write_tokens": 250,
        "output_tokens": 1500,
        "reasoning_tokens": 1200,
    }


def test_openai_embeddings_images_and_audio() -> None:
    embedding = openai.types.CreateEmbeddingResponse.model_validate(_load("openai_embeddings.json"))
    assert from_provider(embedding).to_dict() == {"input_tokens": 8000}
    images = openai.types.ImagesResponse.model_validate(_load("openai_images.json"))
    assert from_provider(images).to_dict() == {
        "input_tokens": 50,
        "output_tokens": 4160,
        "output_image_tokens": 4160,
        "images": 1,
    }
    transcription = openai.types.audio.Transcription.model_validate(
        _load("openai_transcription.json")
    )
    assert from_provider(transcription).to_dict() == {"audio_seconds": 42}


def test_anthropic_input_excludes_cache_so_it_is_added() -> None:
    message = anthropic.types.Message.model_validate(_load("anthropic_message.json"))
    # raw input 2000 + cache read 8000 + cache write 2000 = 12000 inclusive input tokens.
    assert from_provider(message).to_dict() == {
        "input_tokens": 12000,
        "cache_read_tokens": 8000,
        "cache_write_tokens": 2000,
        "cache_write_5m_tokens": 1500,
        "cache_write_1h_tokens": 500,
        "output_tokens": 700,
    }
    assert from_provider(message.usage) == from_provider(_load("anthropic_message.json"))


def test_gemini_prompt_includes_cache_and_output_adds_thoughts() -> None:
    response = genai_types.GenerateContentResponse.model_validate(_load("gemini_response.json"))
    assert from_provider(response).to_dict() == {
        "input_tokens": 300000,
        "cache_read_tokens": 100000,
        "output_tokens": 2000,
        "reasoning_tokens": 500,
    }
    camel = {
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 4,
            "thoughtsTokenCount": 2,
        }
    }
    assert from_provider(camel).to_dict() == {
        "input_tokens": 10,
        "output_tokens": 6,
        "reasoning_tokens": 2,
    }


def test_mistral_chat_response() -> None:
    response = mistral_models.ChatCompletionResponse.model_validate(_load("mistral_chat.json"))
    assert from_provider(response).to_dict() == {"input_tokens": 6000, "output_tokens": 1500}


def test_bedrock_converse_input_excludes_cache() -> None:
    # inputTokens 1000 + cacheRead 2500 + cacheWrite 500 = 4000 inclusive input tokens.
    assert from_provider(_load("bedrock_converse.json")).to_dict() == {
        "input_tokens": 4000,
        "cache_read_tokens": 2500,
        "cache_write_tokens": 500,
        "output_tokens": 400,
    }


def test_response_without_usage_raises() -> None:
    with pytest.raises(ValueError, match="usage"):
        from_provider({"id": "x", "choices": []})


# --- span attributes from each instrumentor family --------------------------------------------

# The research fixture: 1200 input (1000 cache read, 150 cache write), 300 output (200 reasoning).
EXPECTED = {
    "input_tokens": 1200,
    "cache_read_tokens": 1000,
    "cache_write_tokens": 150,
    "output_tokens": 300,
    "reasoning_tokens": 200,
}

SPANS: dict[str, dict[str, Any]] = {
    "official semconv": {
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_write.input_tokens": 150,
        "gen_ai.usage.reasoning.output_tokens": 200,
    },
    "semconv cache_creation era": {
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_creation.input_tokens": 150,
        "gen_ai.usage.reasoning.output_tokens": 200,
    },
    "old semconv": {
        "gen_ai.system": "openai",
        "gen_ai.usage.prompt_tokens": 1200,
        "gen_ai.usage.completion_tokens": 300,
        "gen_ai.usage.cache_read_input_tokens": 1000,
        "gen_ai.usage.cache_creation_input_tokens": 150,
        "gen_ai.usage.reasoning_tokens": 200,
    },
    "traceloop": {
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.total_tokens": 1500,
        "gen_ai.usage.cache_read_input_tokens": 1000,
        "gen_ai.usage.cache_creation_input_tokens": 150,
        "gen_ai.usage.reasoning_tokens": 200,
    },
    "openinference": {
        "llm.provider": "openai",
        "llm.token_count.prompt": 1200,
        "llm.token_count.completion": 300,
        "llm.token_count.total": 1500,
        "llm.token_count.prompt_details.cache_read": 1000,
        "llm.token_count.prompt_details.cache_write": 150,
        "llm.token_count.completion_details.reasoning": 200,
    },
    "paid": {
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cached_input_tokens": 1000,
        "gen_ai.usage.cache_creation_input_tokens": 150,
        "gen_ai.usage.reasoning_output_tokens": 200,
    },
    "otlp json int64 strings": {
        "gen_ai.usage.input_tokens": "1200",
        "gen_ai.usage.output_tokens": "300",
        "gen_ai.usage.cache_read.input_tokens": "1000",
        "gen_ai.usage.cache_write.input_tokens": "150",
        "gen_ai.usage.reasoning.output_tokens": "200",
    },
}


@pytest.mark.parametrize("family", SPANS)
def test_span_attributes_of_every_family(family: str) -> None:
    assert from_span_attributes(SPANS[family]).to_dict() == EXPECTED


_ODD_SPANS: list[tuple[dict[str, Any], dict[str, int]]] = [
    ({}, {}),
    ({"gen_ai.request.model": "gpt-4o"}, {}),
    # The best alias decides, even when it is zero: no fall-back to a lesser one.
    ({"gen_ai.usage.input_tokens": 0, "gen_ai.usage.prompt_tokens": 900}, {}),
    # Values that are not plain counts: bools, negatives, floats, text, None.
    ({"gen_ai.usage.input_tokens": True, "gen_ai.usage.output_tokens": -5}, {}),
    ({"gen_ai.usage.input_tokens": 12.0, "gen_ai.usage.output_tokens": 3.5}, {"input_tokens": 12}),
    (
        {"gen_ai.usage.input_tokens": " 42 ", "gen_ai.usage.output_tokens": "x", "llm.usage.x": 1},
        {"input_tokens": 42},
    ),
    ({"gen_ai.usage.input_tokens": None, "gen_ai.usage.output_tokens": 7}, {"output_tokens": 7}),
    # Rules that add a count the span does not report (input, cache write, output).
    (
        {"gen_ai.usage.cache_read.input_tokens": 10, "gen_ai.usage.output_tokens": 1},
        {"input_tokens": 10, "cache_read_tokens": 10, "output_tokens": 1},
    ),
    (
        {"anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 4},
        {"input_tokens": 4, "cache_write_tokens": 4, "cache_write_5m_tokens": 4},
    ),
    (
        {"gen_ai.usage.reasoning.output_tokens": 9, "gen_ai.usage.input_tokens": 1},
        {"input_tokens": 1, "output_tokens": 9, "reasoning_tokens": 9},
    ),
    # Names in a different order than USAGE_KEYS.
    (
        {
            "gen_ai.usage.output_tokens": 5,
            "llm.token_count.prompt_details.audio": 2,
            "gen_ai.usage.input_tokens": 8,
            "gen_ai.usage.image.output_tokens": 1,
        },
        {"input_tokens": 8, "output_tokens": 5, "input_audio_tokens": 2, "output_image_tokens": 1},
    ),
]


@pytest.mark.parametrize(
    ("attrs", "expected"), [*((a, EXPECTED) for a in SPANS.values()), *_ODD_SPANS]
)
def test_span_reader_equals_the_usage_path_in_value_and_key_order(
    attrs: dict[str, Any], expected: dict[str, int]
) -> None:
    reader = SpanReader(attrs)
    for _ in range(2):  # a reader serves every span of its layout
        fast = reader.usage(attrs)
        slow = from_span_attributes(attrs).to_dict()
        assert fast == slow == expected
        assert list(fast) == list(slow) == [k for k in USAGE_KEYS if k in expected]


def test_exclusive_anthropic_style_span_input_gets_cache_added() -> None:
    # Cache buckets (1000 + 150) exceed the reported input (200): it cannot have included them.
    attrs = {
        "gen_ai.usage.input_tokens": 200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_write.input_tokens": 150,
        "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 100,
        "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 50,
    }
    assert from_span_attributes(attrs).to_dict() == {
        "input_tokens": 1350,
        "cache_read_tokens": 1000,
        "cache_write_tokens": 150,
        "cache_write_5m_tokens": 100,
        "cache_write_1h_tokens": 50,
        "output_tokens": 300,
    }


def test_span_model_prefers_response_model_and_maps_providers() -> None:
    attrs = {
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": "claude",
        "gen_ai.response.model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "gen_ai.operation.name": "chat",
        "gen_ai.response.id": "msg_1",
    }
    assert span_model(attrs) == SpanModel(
        "aws", "anthropic.claude-3-5-sonnet-20240620-v1:0", "chat", "msg_1"
    )
    old = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}
    assert span_model(old) == SpanModel("openai", "gpt-4o", None, None)
    openinference = {"llm.provider": "openai", "llm.model_name": "gpt-4o-2024-08-06"}
    assert span_model(openinference).model == "gpt-4o-2024-08-06"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aws.bedrock", "aws"),
        ("gcp.gemini", "google"),
        ("gcp.vertex_ai", "google"),
        ("azure.ai.openai", "azure"),
        ("mistral_ai", "mistral"),
        ("OpenAI", "openai"),
        (None, None),
    ],
)
def test_canonical_provider(name: str | None, expected: str | None) -> None:
    assert canonical_provider(name) == expected


def test_paid_cost_data_attributes_are_a_usage_block() -> None:
    attributes = {
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cached_input_tokens": 1000,
        "gen_ai.usage.cache_creation_input_tokens": 150,
    }
    assert normalize_usage(attributes).to_dict() == {
        "input_tokens": 1200,
        "cache_read_tokens": 1000,
        "cache_write_tokens": 150,
        "output_tokens": 300,
    }


def test_a_span_reader_serves_every_span_of_its_layout() -> None:
    first = {
        "gen_ai.provider.name": "",  # empty: the next provider name present decides
        "gen_ai.system": "Anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 7,
    }
    second = {
        "gen_ai.provider.name": "openai",
        "gen_ai.system": 3,  # not text: skipped
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": "12",
        "gen_ai.usage.output_tokens": 0,
    }
    reader = SpanReader(first)
    assert reader.model(first) == SpanModel("anthropic", "claude-sonnet-4-5", None, None)
    assert reader.usage(first) == {"input_tokens": 100, "output_tokens": 7}
    assert reader.model(second) == SpanModel("openai", "gpt-4o", None, None)
    assert reader.usage(second) == {"input_tokens": 12}
    for attrs in (first, second):
        assert reader.usage(attrs) == from_span_attributes(attrs).to_dict()
        assert reader.model(attrs) == span_model(attrs)


# --- one normalizer per provider shape, the same from SDK objects and from JSON ----------------


def test_each_shape_reads_sdk_objects_and_json_alike() -> None:
    message = anthropic.types.Message.model_validate(_load("anthropic_message.json"))
    assert anthropic_usage(message.usage) == anthropic_usage(
        _load("anthropic_message.json")["usage"]
    )
    chat = openai.types.chat.ChatCompletion.model_validate(_load("openai_chat.json"))
    assert openai_usage(chat.usage) == openai_usage(_load("openai_chat.json")["usage"])
    gemini = genai_types.GenerateContentResponse.model_validate(_load("gemini_response.json"))
    assert gemini_usage(gemini.usage_metadata) == from_provider(_load("gemini_response.json"))
    assert bedrock_usage(_load("bedrock_converse.json")["usage"]).input_tokens == 4000


def test_anthropic_thinking_without_cache_fields_needs_the_provider() -> None:
    block = {
        "input_tokens": 100,
        "output_tokens": 900,
        "output_tokens_details": {"thinking_tokens": 600},
    }
    assert normalize_usage(block, "anthropic").to_dict() == {
        "input_tokens": 100,
        "output_tokens": 900,
        "reasoning_tokens": 600,
    }
    assert anthropic_usage(block) == normalize_usage(block, "anthropic")


def test_durations_round_to_the_nearest_second() -> None:
    assert openai_usage({"type": "duration", "seconds": 12.5}).audio_seconds == 13
    assert openai_usage({"type": "duration", "seconds": 12.49}).audio_seconds == 12
    assert mistral_usage({"prompt_tokens": 4, "prompt_audio_seconds": 7.6}).to_dict() == {
        "input_tokens": 4,
        "audio_seconds": 8,
    }
    verbose = {"text": "hi", "duration": 41.7, "language": "en"}
    assert from_provider(verbose).to_dict() == {"audio_seconds": 42}


def test_images_without_a_usage_block_count_images() -> None:
    dalle = {"created": 1, "data": [{"url": "a"}, {"url": "b"}]}
    assert normalize_usage(dalle).to_dict() == {"images": 2}


def test_langchain_usage_metadata_is_already_inclusive() -> None:
    meta = {
        "input_tokens": 1200,
        "output_tokens": 300,
        "input_token_details": {"cache_read": 1000, "cache_creation": 150},
        "output_token_details": {"reasoning": 200},
    }
    assert langchain_usage(meta).to_dict() == EXPECTED
    assert langchain_usage(meta).plus(langchain_usage(meta)) == Usage(
        **{k: 2 * v for k, v in EXPECTED.items()}
    )


def test_what_the_sdk_writes_reads_back_as_the_same_usage() -> None:
    rng = random.Random(7)
    for _ in range(300):
        raw = {key: rng.choice((0, 0, 1, rng.randrange(10**7))) for key in USAGE_KEYS}
        usage = from_span_attributes(usage_attributes(Usage(**raw)))  # rules applied once
        attributes = usage_attributes(usage)
        assert from_span_attributes(attributes) == usage
        assert normalize_usage(attributes) == usage
        assert set(attributes) <= set(USAGE_ATTRIBUTES.values())
