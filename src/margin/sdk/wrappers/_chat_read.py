"""The attributes of an OpenAI chat completion's result, read the short way when it has the
usual shape: an SDK model object with int token counts.

``margin.usage.openai_usage`` reads any shape (mappings, objects, floats and digit strings,
Responses' names, durations) through generic helpers; for the usual one this reads the same
fields with plain attribute reads and applies the same counting rules, giving the same
attributes in the same order, quick enough to read on the caller's thread (bench/
sdk_overhead.py --mode warm's response: 1.0 µs, against 6.3 µs the generic way). Anything
else (a mapping, a count that is not an int, no token counts at all) answers None, and the
caller takes the generic path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from margin import semconv

__all__ = ["chat_attributes"]

# Whether a type is a Mapping, by type: an ABC ``isinstance`` costs more than the read itself.
_is_mapping: dict[type, bool] = {}

_INPUT = semconv.USAGE_ATTRIBUTES["input_tokens"]
_CACHE_READ = semconv.USAGE_ATTRIBUTES["cache_read_tokens"]
_CACHE_WRITE = semconv.USAGE_ATTRIBUTES["cache_write_tokens"]
_OUTPUT = semconv.USAGE_ATTRIBUTES["output_tokens"]
_REASONING = semconv.USAGE_ATTRIBUTES["reasoning_tokens"]
_AUDIO_IN = semconv.USAGE_ATTRIBUTES["input_audio_tokens"]
_AUDIO_OUT = semconv.USAGE_ATTRIBUTES["output_audio_tokens"]
_IMAGE_IN = semconv.USAGE_ATTRIBUTES["input_image_tokens"]
_IMAGE_OUT = semconv.USAGE_ATTRIBUTES["output_image_tokens"]


def _plain(obj: Any) -> bool:
    """Whether ``obj`` is read by attribute (not a Mapping)."""
    kind = type(obj)
    mapping = _is_mapping.get(kind)
    if mapping is None:
        mapping = isinstance(obj, Mapping)
        if len(_is_mapping) < 256:
            _is_mapping[kind] = mapping
    return not mapping


def _ints(obj: Any, names: tuple[str, ...]) -> list[int] | None:
    """The named fields of a details object counted as ``margin.usage``'s count() counts
    them (absent or None: 0), or None if one is neither None nor an int."""
    if obj is None:
        return [0] * len(names)
    if not _plain(obj):
        return None
    out = []
    for name in names:
        value = getattr(obj, name, None)
        if value is None:
            out.append(0)
        elif type(value) is int:
            out.append(value if value > 0 else 0)
        else:
            return None
    return out


_DETAILS_IN = ("cached_tokens", "cache_write_tokens", "audio_tokens", "image_tokens")
_DETAILS_OUT = ("reasoning_tokens", "audio_tokens", "image_tokens")


def _usage(usage: Any, out: dict[str, Any]) -> bool:
    """Add the usage attributes of a chat ``usage`` block to ``out``; False (``out`` left
    as it was) when it is not the usual shape."""
    if usage is None or not _plain(usage):
        return False
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    if type(prompt) is not int or type(completion) is not int:
        return False
    details_in = _ints(getattr(usage, "prompt_tokens_details", None), _DETAILS_IN)
    details_out = _ints(getattr(usage, "completion_tokens_details", None), _DETAILS_OUT)
    if details_in is None or details_out is None:
        return False
    cache_read, cache_write, audio_in, image_in = details_in
    reasoning, audio_out, image_out = details_out
    # margin.usage's counting rules: input includes cache reads and writes, output reasoning.
    input_tokens = prompt if prompt > 0 else 0
    output_tokens = completion if completion > 0 else 0
    cached = cache_read + cache_write
    if input_tokens < cached:
        input_tokens += cached
    if output_tokens < reasoning:
        output_tokens += reasoning
    # The non-zero counts, in margin.usage's order.
    if input_tokens:
        out[_INPUT] = input_tokens
    if cache_read:
        out[_CACHE_READ] = cache_read
    if cache_write:
        out[_CACHE_WRITE] = cache_write
    if output_tokens:
        out[_OUTPUT] = output_tokens
    if reasoning:
        out[_REASONING] = reasoning
    if audio_in:
        out[_AUDIO_IN] = audio_in
    if audio_out:
        out[_AUDIO_OUT] = audio_out
    if image_in:
        out[_IMAGE_IN] = image_in
    if image_out:
        out[_IMAGE_OUT] = image_out
    return True


def chat_attributes(result: Any) -> dict[str, Any] | None:
    """What ``SpanRecorder.response`` and ``SpanRecorder.usage`` record for a chat completion
    ``result`` (response id, model, finish reasons, usage), or None when ``result`` is not
    of the usual shape."""
    if result is None or not _plain(result):
        return None
    out: dict[str, Any] = {}
    response_id = getattr(result, "id", None)
    if isinstance(response_id, str) and response_id:
        out[semconv.RESPONSE_ID] = response_id
    model = getattr(result, "model", None)
    if isinstance(model, str) and model:
        out[semconv.RESPONSE_MODEL] = model
    reasons = []
    for choice in getattr(result, "choices", None) or ():
        if choice is None:
            continue
        if not _plain(choice):
            return None
        reason = getattr(choice, "finish_reason", None)
        if reason:
            reasons.append(str(reason))
    if reasons:
        out[semconv.FINISH_REASONS] = tuple(reasons)
    return out if _usage(getattr(result, "usage", None), out) else None
