"""The short reading of an OpenAI chat completion records exactly what the generic one does,
and declines (None) every shape it does not read itself."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from openai.types.chat import ChatCompletion
from opentelemetry.trace import INVALID_SPAN

from margin.sdk.wrappers._chat_read import chat_attributes
from margin.sdk.wrappers._recorder import SpanRecorder
from margin.sdk.wrappers.openai import read_chat


def _completion(usage: Any, reasons: tuple[Any, ...] = ("stop",), **extra: Any) -> dict[str, Any]:
    choices = [
        {"index": i, "finish_reason": r, "message": {"role": "assistant", "content": "hi"}}
        for i, r in enumerate(reasons)
    ]
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o"}
    return {**body, "choices": choices, "usage": usage, **extra}


def _generic(result: Any) -> dict[str, Any]:
    rec = SpanRecorder(INVALID_SPAN, "gpt-4o", True, False)
    read_chat(rec, result)
    return dict(rec._pending)


_DETAILS_IN = [None, {}, {"cached_tokens": 0, "audio_tokens": 0}, {"cached_tokens": 900},
               {"cached_tokens": 5000, "audio_tokens": 7, "image_tokens": 3}]  # fmt: skip
_DETAILS_OUT = [None, {"reasoning_tokens": 0, "audio_tokens": 0}, {"reasoning_tokens": 40},
                {"reasoning_tokens": 900, "audio_tokens": 2, "image_tokens": 1,
                 "accepted_prediction_tokens": 1}]  # fmt: skip


@pytest.mark.parametrize(
    ("details_in", "details_out", "counts"),
    list(itertools.product(_DETAILS_IN, _DETAILS_OUT, [(1200, 30), (0, 0), (3, 2000)])),
)
def test_the_short_reading_records_what_the_generic_one_does(
    details_in: Any, details_out: Any, counts: tuple[int, int]
) -> None:
    usage = {"prompt_tokens": counts[0], "completion_tokens": counts[1], "total_tokens": 1,
             "prompt_tokens_details": details_in, "completion_tokens_details": details_out}  # fmt: skip
    for reasons in [("stop",), ("stop", "length"), ()]:
        result = ChatCompletion.model_validate(_completion(usage, reasons))
        read = chat_attributes(result)
        assert read is not None
        assert list(read.items()) == list(_generic(result).items())


def test_extra_fields_of_a_details_block_are_read_as_the_generic_reading_reads_them() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
             "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 20,
                                       "future_tokens": 9}}  # fmt: skip
    result = ChatCompletion.model_validate(_completion(usage))
    assert chat_attributes(result) == _generic(result)
    assert _generic(result)["gen_ai.usage.cache_write.input_tokens"] == 20


@pytest.mark.parametrize(
    "result",
    [
        None,
        _completion({"prompt_tokens": 10, "completion_tokens": 5}),  # a mapping
        ChatCompletion.model_construct(**_completion(None)),  # no usage block
        ChatCompletion.model_construct(**_completion({"prompt_tokens": 10.0})),
        SimpleNamespace(
            id="c",
            model="m",
            choices=[],
            usage=SimpleNamespace(
                prompt_tokens=1, completion_tokens=1, prompt_tokens_details={"cached_tokens": 1}
            ),
        ),  # a details block that is a mapping
        ChatCompletion.model_construct(
            **_completion({"prompt_tokens": True, "completion_tokens": 1})
        ),
    ],
)
def test_other_shapes_are_left_to_the_generic_reading(result: Any) -> None:
    assert chat_attributes(result) is None
    _generic(result)  # which reads them
