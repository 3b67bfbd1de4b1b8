"""One normalizer per provider response shape. The SDK's wrappers call the one of the
provider they observe; the server (``POST /v1/costs`` with a provider's usage block) finds
the shape from the block's keys. Both read a response the same way, so a call costs the same
whichever path reports it.

Each normalizer takes the provider's usage block as an SDK object or as decoded JSON."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from margin._fields import field, fields
from margin.usage._counts import Usage, build, count, seconds
from margin.usage._provider_ids import canonical_provider

__all__ = [
    "NATIVE_KEYS",
    "anthropic_usage",
    "bedrock_usage",
    "from_provider",
    "gemini_usage",
    "langchain_usage",
    "mistral_usage",
    "openai_image_usage",
    "openai_transcription_usage",
    "openai_usage",
]


def _openai_counts(usage: Any) -> dict[str, int]:
    prompt, completion, details_in, details_out = fields(
        usage,
        "prompt_tokens",
        "completion_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    )
    if prompt is None and completion is None:  # Responses, images, transcription tokens
        prompt, completion, details_in, details_out = fields(
            usage, "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"
        )
        if prompt is None and completion is None:
            kind, duration = fields(usage, "type", "seconds")
            return {"audio_seconds": seconds(duration)} if kind == "duration" else {}
        if details_in is None:
            details_in = field(usage, "input_token_details")  # transcription's spelling
    cache_read, cache_write, audio_in, image_in = fields(
        details_in, "cached_tokens", "cache_write_tokens", "audio_tokens", "image_tokens"
    )
    reasoning, audio_out, image_out = fields(
        details_out, "reasoning_tokens", "audio_tokens", "image_tokens"
    )
    return {
        "input_tokens": count(prompt),
        "cache_read_tokens": count(cache_read),
        "cache_write_tokens": count(cache_write),
        "output_tokens": count(completion),
        "reasoning_tokens": count(reasoning),
        "input_audio_tokens": count(audio_in),
        "output_audio_tokens": count(audio_out),
        "input_image_tokens": count(image_in),
        "output_image_tokens": count(image_out),
    }


def openai_usage(usage: Any) -> Usage:
    """OpenAI's usage: chat completions and embeddings (``prompt_tokens``…), Responses, image
    and transcription tokens (``input_tokens``…), transcription billed by duration
    (``{"type": "duration", "seconds": …}``, rounded to the nearest second)."""
    return build(_openai_counts(usage))


def openai_image_usage(response: Any) -> Usage:
    """An OpenAI images response: its token usage (when the model reports one) and the
    number of images made."""
    counts = _openai_counts(field(response, "usage"))
    data = field(response, "data")
    counts["images"] = len(data) if isinstance(data, list) else 0
    return build(counts)


def openai_transcription_usage(response: Any) -> Usage:
    """An OpenAI transcription: its usage block (tokens or duration), else the ``duration``
    of a verbose response (rounded to the nearest second)."""
    usage, duration = fields(response, "usage", "duration")
    if usage is None and isinstance(duration, int | float):
        return Usage(audio_seconds=seconds(duration))
    return openai_usage(usage)


def mistral_usage(usage: Any) -> Usage:
    """Mistral's ``UsageInfo``: OpenAI's chat shape, plus ``prompt_audio_seconds``."""
    counts = _openai_counts(usage)
    counts["audio_seconds"] = seconds(field(usage, "prompt_audio_seconds"))
    return build(counts)


def anthropic_usage(usage: Any) -> Usage:
    """Anthropic's ``Usage``, whose ``input_tokens`` excludes cache reads and writes (added
    here); cache writes split by lifetime (5 minutes, 1 hour), thinking and web searches."""
    cache_creation, details, tools = fields(
        usage, "cache_creation", "output_tokens_details", "server_tool_use"
    )
    return build(
        {
            "input_tokens": count(field(usage, "input_tokens")),
            "cache_read_tokens": count(field(usage, "cache_read_input_tokens")),
            "cache_write_tokens": count(field(usage, "cache_creation_input_tokens")),
            "cache_write_5m_tokens": count(field(cache_creation, "ephemeral_5m_input_tokens")),
            "cache_write_1h_tokens": count(field(cache_creation, "ephemeral_1h_input_tokens")),
            "output_tokens": count(field(usage, "output_tokens")),
            "reasoning_tokens": count(field(details, "thinking_tokens")),
            "web_searches": count(field(tools, "web_search_requests")),
        },
        input_excludes_cache=True,
    )


def gemini_usage(meta: Any) -> Usage:
    """Gemini's ``usage_metadata`` (snake case from the SDK, camel case in REST JSON).
    ``prompt_token_count`` includes cached content; ``candidates_token_count`` excludes
    thoughts, which are output; tool-use prompt tokens are billed as input."""
    camel = isinstance(meta, Mapping)

    def pick(snake: str, camel_name: str) -> int:
        value = field(meta, snake)
        if value is None and camel:
            value = meta.get(camel_name)
        return count(value)

    thoughts = pick("thoughts_token_count", "thoughtsTokenCount")
    return build(
        {
            "input_tokens": pick("prompt_token_count", "promptTokenCount")
            + pick("tool_use_prompt_token_count", "toolUsePromptTokenCount"),
            "cache_read_tokens": pick("cached_content_token_count", "cachedContentTokenCount"),
            "output_tokens": pick("candidates_token_count", "candidatesTokenCount") + thoughts,
            "reasoning_tokens": thoughts,
        }
    )


def bedrock_usage(usage: Any) -> Usage:
    """A Bedrock Converse ``usage`` block, whose ``inputTokens`` excludes cache reads and
    writes (added here)."""
    return build(
        {
            "input_tokens": count(field(usage, "inputTokens")),
            "cache_read_tokens": count(field(usage, "cacheReadInputTokens")),
            "cache_write_tokens": count(field(usage, "cacheWriteInputTokens")),
            "output_tokens": count(field(usage, "outputTokens")),
        },
        input_excludes_cache=True,
    )


def langchain_usage(meta: Any) -> Usage:
    """LangChain's ``usage_metadata`` (already inclusive of cache and reasoning)."""
    details_in, details_out = fields(meta, "input_token_details", "output_token_details")
    return build(
        {
            "input_tokens": count(field(meta, "input_tokens")),
            "cache_read_tokens": count(field(details_in, "cache_read")),
            "cache_write_tokens": count(field(details_in, "cache_creation")),
            "input_audio_tokens": count(field(details_in, "audio")),
            "output_tokens": count(field(meta, "output_tokens")),
            "reasoning_tokens": count(field(details_out, "reasoning")),
            "output_audio_tokens": count(field(details_out, "audio")),
        }
    )


def _present(block: Any, *names: str) -> bool:
    return any(field(block, name) is not None for name in names)


def _normalizer(block: Any, provider: str | None) -> Callable[[Any], Usage] | None:
    """The normalizer of a usage block's shape, told by its keys (and, where OpenAI's and
    Anthropic's names coincide, by the provider)."""
    if field(block, "type") == "duration":
        return openai_usage
    if _present(block, "prompt_token_count", "promptTokenCount"):
        return gemini_usage
    if _present(block, "inputTokens", "outputTokens"):
        return bedrock_usage
    if _present(
        block, "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation"
    ) or (provider == "anthropic" and _present(block, "input_tokens", "output_tokens")):
        return anthropic_usage
    if _present(block, "prompt_audio_seconds") or (
        provider == "mistral" and _present(block, "prompt_tokens")
    ):
        return mistral_usage
    if _present(block, "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"):
        return openai_usage
    return None


def from_provider(response: Any, provider: str | None = None) -> Usage:
    """Usage from a provider response (SDK object or decoded JSON), or its usage block.

    Recognises OpenAI (chat, Responses, embeddings, images, audio), Anthropic, Gemini
    (``usage_metadata``), Mistral and Bedrock Converse shapes; ``provider`` (any spelling)
    decides where two shapes share their names. Raises ``ValueError`` when no usage is found.
    """
    if response is None or isinstance(response, str | bytes | int | float):
        raise ValueError("response carries no usage")
    block = field(response, "usage")
    if block is None:
        block = field(response, "usage_metadata")
    if block is None and isinstance(response, Mapping):
        block = response.get("usageMetadata")
    if field(response, "created") is not None and isinstance(field(response, "data"), list):
        return openai_image_usage(response)
    if block is None:
        block = response
    normalizer = _normalizer(block, canonical_provider(provider))
    if normalizer is None:
        if field(response, "text") is not None and field(response, "duration") is not None:
            return openai_transcription_usage(response)  # verbose, without a usage block
        raise ValueError("response carries no recognised usage")
    return normalizer(block)


#: Top-level keys that mark a mapping as a provider's usage block (or a whole response).
NATIVE_KEYS = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "input_tokens_details",
        "input_token_details",
        "output_tokens_details",
        "prompt_audio_seconds",
        "prompt_token_count",
        "promptTokenCount",
        "candidates_token_count",
        "candidatesTokenCount",
        "inputTokens",
        "outputTokens",
        "cacheReadInputTokens",
        "cacheWriteInputTokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cache_creation",
        "server_tool_use",
        "usage",
        "usage_metadata",
        "usageMetadata",
        "created",
        "seconds",
    }
)
