"""Canonical usage: one shape for what an AI call consumed, whatever reported it.

Counting rules (the ones pricing relies on):

- ``input_tokens`` is INCLUSIVE: it counts cache reads, cache writes and every input modality.
  ``cache_write_tokens`` includes its ``cache_write_5m_tokens`` / ``cache_write_1h_tokens``
  splits; ``input_{audio,image,video}_tokens`` are subsets of ``input_tokens``.
- ``output_tokens`` is INCLUSIVE of ``reasoning_tokens`` and of output modalities.
- Sources that report input *exclusive* of cache (Anthropic's and Bedrock's raw usage) are
  converted here. For span attributes, whose emitter is unknown, the OTel semconv rule applies
  (input includes cache) unless the reported cache buckets exceed the reported input — then
  the input cannot have included them, so they are added (old Anthropic instrumentations).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple

__all__ = [
    "USAGE_KEYS",
    "SpanModel",
    "SpanReader",
    "Usage",
    "canonical_provider",
    "from_paid",
    "from_paygent",
    "from_provider",
    "from_span_attributes",
    "normalize_usage",
    "span_model",
    "span_usage",
]


@dataclass(frozen=True, slots=True)
class Usage:
    """What one AI call consumed. Every count is a non-negative int (see module rules)."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    input_image_tokens: int = 0
    output_image_tokens: int = 0
    input_video_tokens: int = 0
    output_video_tokens: int = 0
    images: int = 0
    audio_seconds: int = 0
    characters: int = 0
    pages: int = 0
    requests: int = 0
    web_searches: int = 0

    def to_dict(self) -> dict[str, int]:
        """The non-zero counts, keyed by field name (the stored/wire shape)."""
        return {key: value for key in USAGE_KEYS if (value := getattr(self, key))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """Strictly parse the wire shape: an unknown key or a negative/non-integer count raises
        ``ValueError`` naming the key."""
        return cls(**check_counts(data))

    def is_empty(self) -> bool:
        return not any(getattr(self, key) for key in USAGE_KEYS)


USAGE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Usage))
_KEYSET = frozenset(USAGE_KEYS)


def check_counts(data: Mapping[str, Any]) -> dict[str, int]:
    """Validate a canonical usage mapping, returning its non-zero counts."""
    out: dict[str, int] = {}
    for key, value in data.items():
        if key not in _KEYSET:
            raise ValueError(f"unknown usage key {key!r}")
        if type(value) is not int or value < 0:
            raise ValueError(f"usage {key!r} must be a non-negative integer")
        if value:
            out[key] = value
    return out


def _int(value: Any) -> int:
    """A count from an SDK/attribute value (int, integral float, digit string); else 0."""
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value.is_integer():
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def _get(obj: Any, *path: str) -> Any:
    for step in path:
        if obj is None:
            return None
        obj = obj.get(step) if isinstance(obj, Mapping) else getattr(obj, step, None)
    return obj


def _plain(obj: Any) -> Any:
    """SDK response objects (pydantic models) to plain dicts; dicts pass through."""
    dump = getattr(obj, "model_dump", None)
    if callable(dump) and not isinstance(obj, Mapping):
        return dump()
    return obj


def _include(counts: dict[str, int], *, input_excludes_cache: bool = False) -> None:
    """Apply the inclusivity rules to raw counts, in place."""
    split = counts.get("cache_write_5m_tokens", 0) + counts.get("cache_write_1h_tokens", 0)
    if counts.get("cache_write_tokens", 0) < split:
        counts["cache_write_tokens"] = split
    cached = counts.get("cache_read_tokens", 0) + counts.get("cache_write_tokens", 0)
    if input_excludes_cache or counts.get("input_tokens", 0) < cached:
        counts["input_tokens"] = counts.get("input_tokens", 0) + cached
    reasoning = counts.get("reasoning_tokens", 0)
    if counts.get("output_tokens", 0) < reasoning:
        counts["output_tokens"] = counts.get("output_tokens", 0) + reasoning


def _build(counts: dict[str, int], *, input_excludes_cache: bool = False) -> Usage:
    """Apply the inclusivity rules to raw counts and build a Usage."""
    _include(counts, input_excludes_cache=input_excludes_cache)
    return Usage(**{k: v for k, v in counts.items() if v})


def _details(usage: Any, name: str) -> Any:
    return _get(usage, name) or {}


def _openai_like(u: Any) -> Usage:
    if "prompt_tokens" in u:  # chat completions, embeddings, Mistral
        inp, out = _details(u, "prompt_tokens_details"), _details(u, "completion_tokens_details")
        counts = {
            "input_tokens": _int(u.get("prompt_tokens")),
            "output_tokens": _int(u.get("completion_tokens")),
        }
        counts["audio_seconds"] = _int(u.get("prompt_audio_seconds"))
    else:  # Responses, images, audio transcription (tokens)
        inp = _details(u, "input_tokens_details") or _details(u, "input_token_details")
        out = _details(u, "output_tokens_details")
        counts = {
            "input_tokens": _int(u.get("input_tokens")),
            "output_tokens": _int(u.get("output_tokens")),
        }
    counts |= {
        "cache_read_tokens": _int(_get(inp, "cached_tokens")),
        "cache_write_tokens": _int(_get(inp, "cache_write_tokens")),
        "input_audio_tokens": _int(_get(inp, "audio_tokens")),
        "input_image_tokens": _int(_get(inp, "image_tokens")),
        "reasoning_tokens": _int(_get(out, "reasoning_tokens")),
        "output_audio_tokens": _int(_get(out, "audio_tokens")),
        "output_image_tokens": _int(_get(out, "image_tokens")),
    }
    return _build(counts)


def _anthropic(u: Any) -> Usage:
    return _build(
        {
            "input_tokens": _int(u.get("input_tokens")),
            "cache_read_tokens": _int(u.get("cache_read_input_tokens")),
            "cache_write_tokens": _int(u.get("cache_creation_input_tokens")),
            "cache_write_5m_tokens": _int(_get(u, "cache_creation", "ephemeral_5m_input_tokens")),
            "cache_write_1h_tokens": _int(_get(u, "cache_creation", "ephemeral_1h_input_tokens")),
            "output_tokens": _int(u.get("output_tokens")),
            "reasoning_tokens": _int(_get(u, "output_tokens_details", "thinking_tokens")),
            "web_searches": _int(_get(u, "server_tool_use", "web_search_requests")),
        },
        input_excludes_cache=True,
    )


def _gemini(u: Any) -> Usage:
    def pick(snake: str, camel: str) -> int:
        return _int(u.get(snake) if snake in u else u.get(camel))

    thoughts = pick("thoughts_token_count", "thoughtsTokenCount")
    # prompt_token_count already includes cached content; candidates exclude thoughts, and
    # tool-use prompt tokens are billed as input but reported beside the prompt.
    return _build(
        {
            "input_tokens": pick("prompt_token_count", "promptTokenCount")
            + pick("tool_use_prompt_token_count", "toolUsePromptTokenCount"),
            "cache_read_tokens": pick("cached_content_token_count", "cachedContentTokenCount"),
            "output_tokens": pick("candidates_token_count", "candidatesTokenCount") + thoughts,
            "reasoning_tokens": thoughts,
        }
    )


def _bedrock(u: Any) -> Usage:
    return _build(
        {
            "input_tokens": _int(u.get("inputTokens")),
            "cache_read_tokens": _int(u.get("cacheReadInputTokens")),
            "cache_write_tokens": _int(u.get("cacheWriteInputTokens")),
            "output_tokens": _int(u.get("outputTokens")),
        },
        input_excludes_cache=True,
    )


def from_provider(response: Any) -> Usage:
    """Usage from a provider response (SDK object or decoded JSON), or its usage block.

    Recognises OpenAI (chat, Responses, embeddings, images, audio), Anthropic, Gemini
    (``usage_metadata``), Mistral and Bedrock Converse shapes. Raises ``ValueError`` when no
    usage is found.
    """
    data = _plain(response)
    if not isinstance(data, Mapping):
        raise ValueError("response carries no usage")
    images = len(data["data"]) if isinstance(data.get("data"), list) and "created" in data else 0
    usage = next(
        (data[k] for k in ("usage", "usage_metadata", "usageMetadata") if data.get(k) is not None),
        data,
    )
    usage = _plain(usage)
    if not isinstance(usage, Mapping):
        raise ValueError("response carries no usage")
    if usage.get("type") == "duration":  # OpenAI transcription billed by seconds
        result = Usage(audio_seconds=_int(usage.get("seconds")))
    elif "prompt_token_count" in usage or "promptTokenCount" in usage:
        result = _gemini(usage)
    elif "inputTokens" in usage or "outputTokens" in usage:
        result = _bedrock(usage)
    elif "cache_creation_input_tokens" in usage or "cache_read_input_tokens" in usage:
        result = _anthropic(usage)
    elif "prompt_tokens" in usage or "input_tokens" in usage:
        result = _openai_like(usage)
    else:
        raise ValueError("response carries no recognised usage")
    if images:
        result = Usage(**(result.to_dict() | {"images": images}))
    return result


# OTel span attribute aliases, most specific first. See module docstring for inclusivity.
_SPAN_ALIASES: dict[str, tuple[str, ...]] = {
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cached_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "cache_write_5m_tokens": ("anthropic.usage.cache_creation.ephemeral_5m_input_tokens",),
    "cache_write_1h_tokens": ("anthropic.usage.cache_creation.ephemeral_1h_input_tokens",),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.reasoning_output_tokens",
        "llm.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "input_audio_tokens": (
        "gen_ai.usage.audio.input_tokens",
        "llm.token_count.prompt_details.audio",
    ),
    "output_audio_tokens": (
        "gen_ai.usage.audio.output_tokens",
        "llm.token_count.completion_details.audio",
    ),
    "input_image_tokens": ("gen_ai.usage.image.input_tokens",),
    "output_image_tokens": ("gen_ai.usage.image.output_tokens",),
}
_SPAN_PLANS_MAX = 4096


class SpanModel(NamedTuple):
    """Who served a span's call: catalog provider id, model, operation and response id."""

    provider: str | None
    model: str | None
    operation: str | None
    response_id: str | None


#: Where each ``SpanModel`` field is read from, in order of preference (the response model
#: wins over the request's).
_MODEL_NAMES = (
    ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    ("gen_ai.response.model", "llm.model_name", "gen_ai.request.model"),
    ("gen_ai.operation.name",),
    ("gen_ai.response.id",),
)


def _text(attributes: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attributes[name]
        if isinstance(value, str) and value:
            return value
    return None


class SpanReader:
    """Reads usage and model from the attributes of spans that share one layout (the same
    attribute names, in the same order). Which attribute holds which count or field depends
    only on the names present, and spans of one instrumentation share their names, so a
    reader is made once per layout (``SpanReader.of``) and used for every such span."""

    __slots__ = ("_counts", "_fields")

    _memo: ClassVar[dict[tuple[str, ...], SpanReader]] = {}

    def __init__(self, names: Iterable[str]) -> None:
        present = set(names)
        counts = []
        for key, aliases in _SPAN_ALIASES.items():
            name = next((alias for alias in aliases if alias in present), None)
            if name is not None:
                counts.append((key, name))
        counts.sort(key=lambda pair: USAGE_KEYS.index(pair[0]))
        #: (usage key, attribute name) of each count reported, in ``USAGE_KEYS`` order.
        self._counts = tuple(counts)
        #: The names of ``_MODEL_NAMES`` present, per ``SpanModel`` field.
        self._fields = tuple(tuple(n for n in group if n in present) for group in _MODEL_NAMES)

    @classmethod
    def of(cls, attributes: Mapping[str, Any]) -> SpanReader:
        """The reader of ``attributes``' layout (remembered for up to 4,096 layouts)."""
        names = tuple(attributes)
        reader = cls._memo.get(names)
        if reader is None:
            reader = cls(names)
            if len(cls._memo) < _SPAN_PLANS_MAX:
                cls._memo[names] = reader
        return reader

    def usage(self, attributes: Mapping[str, Any]) -> dict[str, int]:
        """The non-zero canonical counts, in field order (see ``span_usage``)."""
        counts: dict[str, int] = {}
        for key, name in self._counts:
            value = attributes[name]
            if value.__class__ is not int or value < 0:  # bools, floats, strings, negatives
                value = _int(value)
            if value:
                counts[key] = value
        if counts:
            size = len(counts)
            _include(counts)
            if len(counts) != size:  # a rule added a count: back to field order
                counts = {key: counts[key] for key in USAGE_KEYS if key in counts}
        return counts

    def model(self, attributes: Mapping[str, Any]) -> SpanModel:
        """Provider, model, operation and response id (see ``span_model``)."""
        provider, model, operation, response_id = self._fields
        return SpanModel(
            canonical_provider(_text(attributes, provider)) if provider else None,
            _text(attributes, model) if model else None,
            _text(attributes, operation) if operation else None,
            _text(attributes, response_id) if response_id else None,
        )


def span_usage(attributes: Mapping[str, Any]) -> dict[str, int]:
    """``from_span_attributes(attributes).to_dict()``, without the intermediate ``Usage``
    (the OTLP receiver's per-span path): the non-zero canonical counts, in field order. For
    each count the alias that comes first in ``_SPAN_ALIASES`` decides, even when it is 0."""
    return SpanReader.of(attributes).usage(attributes)


def span_model(attributes: Mapping[str, Any]) -> SpanModel:
    """Extract provider/model/operation/response id; the response model wins over the request's."""
    return SpanReader.of(attributes).model(attributes)


def from_span_attributes(attributes: Mapping[str, Any]) -> Usage:
    """Usage from span attributes of any instrumentor family (OTel semconv old and new,
    Traceloop, OpenInference, Paid, native Anthropic/Mistral spans)."""
    return Usage(**span_usage(attributes))


def from_paid(cost_data: Mapping[str, Any]) -> Usage:
    """Usage from Paid's manual ``costData`` (its ``attributes`` dict, or that dict itself);
    Paid's keys are gen_ai span-attribute names."""
    attributes = cost_data.get("attributes")
    return from_span_attributes(attributes if isinstance(attributes, Mapping) else cost_data)


def from_paygent(data: Mapping[str, Any] | Any) -> Usage:
    """Usage from Paygent's ``UsageData`` (object or dict) or its wire ``rawUsage`` block."""
    raw = _plain(data) if not isinstance(data, Mapping) else data
    if not isinstance(raw, Mapping):
        raw = vars(data)
    if "inputTokens" in raw or "outputTokens" in raw or "audioDuration" in raw:
        minutes = raw.get("audioDuration") or 0
        seconds = round(minutes * 60) if isinstance(minutes, int | float) else 0
        counts = {
            "input_tokens": _int(raw.get("inputTokens")),
            "output_tokens": _int(raw.get("outputTokens")),
            "cache_read_tokens": _int(raw.get("cachedTokens")),
            "audio_seconds": max(int(seconds), 0),
            "characters": _int(raw.get("characterCount")),
        }
    else:
        counts = {
            "input_tokens": _int(raw.get("prompt_tokens")),
            "output_tokens": _int(raw.get("completion_tokens")),
            "cache_read_tokens": _int(raw.get("cached_tokens")),
        }
    return _build(counts)


_PROVIDER_NATIVE = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "prompt_token_count",
        "promptTokenCount",
        "inputTokens",
        "outputTokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "input_tokens_details",
        "prompt_tokens_details",
        "usage",
        "usage_metadata",
    }
)
_IGNORED = frozenset({"total_tokens", "total_token_count", "totalTokens", "totalTokenCount"})


_SPAN_USAGE_PREFIXES = ("gen_ai.usage.", "llm.token_count.", "llm.usage.")


def normalize_usage(data: Mapping[str, Any]) -> Usage:
    """Usage from an API usage block: canonical keys (strict), a provider-native usage block,
    or span attributes / Paid ``costData.attributes`` (recognised by their ``gen_ai.usage.*``
    or ``llm.token_count.*`` keys; other attributes there are ignored, as spans carry many).
    Raises ``ValueError`` naming a key it cannot place."""
    keys = data.keys() - _IGNORED
    if keys <= _KEYSET:
        return Usage(**check_counts({k: data[k] for k in keys}))
    if keys & _PROVIDER_NATIVE:
        return from_provider(data)
    if any(k.startswith(_SPAN_USAGE_PREFIXES) for k in keys):
        canonical = check_counts({k: data[k] for k in keys & _KEYSET})
        return _build(from_span_attributes(data).to_dict() | canonical)
    raise ValueError(f"unknown usage key {sorted(keys - _KEYSET)[0]!r}")


_PROVIDER_IDS: dict[str, str] = {
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "aws_bedrock": "aws",
    "amazon-bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "gemini": "google",
    "google_genai": "google",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "azure_openai": "azure",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "xai": "x-ai",
    "x_ai": "x-ai",
    "together_ai": "together",
}


_CANONICAL: dict[str, str] = {}


def canonical_provider(name: str | None) -> str | None:
    """Map a provider name as instrumentors spell it to the price catalog's provider id."""
    if not name:
        return None
    found = _CANONICAL.get(name)
    if found is None:
        key = name.strip().lower()
        found = _PROVIDER_IDS.get(key, key)
        if len(_CANONICAL) < _SPAN_PLANS_MAX:
            _CANONICAL[name] = found
    return found
