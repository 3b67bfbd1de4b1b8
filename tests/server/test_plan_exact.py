"""A batch is planned as each item alone would be: the same canonical JSON (so the same
content digest, and the same ``auto:`` key for an item stored before), the same checks
and errors, the same values read from each item, whether the batch takes its quick paths
(one encoder call, ``_quick``) or not.

The reference below is the plain per-item path: ``canonical_json``, then the item's model.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from margin._payload import PayloadError, canonical_json
from margin._time import to_micros
from margin.server._batchjson import _SPLIT, json_texts
from margin.server._drafts import plan
from margin.server._quick import QuickSignal, quick_signal
from margin.server._results import ItemResult, digest, mark_invalid
from margin.server.items import CostIn, EventIn, SignalIn

NOW = 1_790_000_000_000_000
HORIZON = 1_800_000_000_000_000

#: Items and the keys their content gave them before batches were planned in one call:
#: a retry of any of them must find the fact stored then.
GOLDEN: list[tuple[dict[str, Any], str]] = [
    (
        {
            "event_name": "email_sent",
            "customer": "acme",
            "agent": "ai-sdr",
            "timestamp": "2026-10-05T12:00:00Z",
            "data": {"lead": 7, "score": 0.5},
        },
        "auto:714bdfc574cf2e5702be4861881dc287",
    ),
    (
        {
            "event_name": "email_sent",
            "customer": "acme",
            "data": {
                "b": 1,
                "a": [1, 2.5, -0.0, 1e300, 2**60, -(2**62)],
                "c": {"z": None, "y": True},
            },
        },
        "auto:aa275e690fef1bed49b852cc82cc72d1",
    ),
    (
        {
            "event_name": "ünïcödé ✓",
            "customer_id": "cus_1",
            "data": {
                "text": 'quote " back\\slash \n tab\t é 漢字 😀',
                "e": 1.0e-7,
                "big": 123456789012345678,
            },
        },
        "auto:cdda480e4f5c630fccaa9168f7f7abfb",
    ),
    (
        {
            "customer": "c",
            "event_name": "e",
            "timestamp": "2026-10-05T12:00:00.123456+02:00",
            "unit": "u1",
            "agent_id": "agt_1",
            "trace_id": "0123456789abcdef0123456789abcdef",
            "cost_tracing": True,
        },
        "auto:70517cd83ae03df7a60fac5566ee981b",
    ),
    (
        {"customer": " padded ", "event_name": "e", "data": {" k ": 1}},
        "auto:4daf89288ec82d029915012b9d34e397",
    ),
    (
        {
            "customer": "c",
            "event_name": "e",
            "cost_tracing": "yes",
            "data": {"costData": {"vendor": "openai", "cost": {"amount": "0.25"}}},
        },
        "auto:75eb0d1feaf6434d5d04acb8efa93184",
    ),
    (
        {"customer": "c", "event_name": "e", "data": {"deep": [[[[[[[[[[1]]]]]]]]]]}},
        "auto:26f09472def9aca2fe1827212b078df4",
    ),
    (
        {"customer": "c", "event_name": "e", "data": {"n": None, "l": [None, "null", "x"]}},
        "auto:b2285101ded2f0fec53b8914ae8f6025",
    ),
    (
        {
            "customer": "c",
            "event_name": "e",
            "data": {"x": 0.1, "y": 0.30000000000000004, "z": 5e-324, "w": 1.7976931348623157e308},
        },
        "auto:157f5b2fb18537ad3e4698dbfb218313",
    ),
]


def test_content_keys_are_those_of_facts_stored_before() -> None:
    drafts = plan([item for item, _key in GOLDEN], SignalIn, NOW, HORIZON)
    assert [r.idempotency_key for r in drafts.results] == [key for _item, key in GOLDEN]


def _reference(raw: Any, model: type[BaseModel]) -> tuple[ItemResult, Any, str | None]:
    """An item planned alone: its result (field and detail if failed), model and digest."""
    result = ItemResult(0, "failed")
    if not isinstance(raw, dict):
        result.field, result.detail = "body", "each item must be a JSON object"
        return result, None, None
    try:
        canonical = canonical_json(raw, model.free_form)  # type: ignore[attr-defined]
    except PayloadError as exc:
        result.field, result.detail = exc.field, exc.detail
        return result, None, None
    try:
        item = model.model_validate(raw)
    except ValidationError as exc:
        mark_invalid(result, exc)
        return result, None, None
    return result, item, digest(canonical)


def _same_plan(items: list[Any], model: type[BaseModel]) -> None:
    drafts = plan(items, model, NOW, HORIZON)
    fresh = {id(d.result): d for d in drafts.fresh}
    repeats = {id(result) for result, _key, _digest in drafts.repeats}
    for raw, result in zip(items, drafts.results, strict=True):
        expected, item, content = _reference(raw, model)
        if item is None:
            assert (result.status, result.field, result.detail) == (
                "failed",
                expected.field,
                expected.detail,
            ), raw
            continue
        ts = NOW if item.timestamp is None else to_micros(item.timestamp)
        assert (result.field == "timestamp") == (ts > HORIZON)
        if ts > HORIZON:
            continue
        assert result.idempotency_key == (item.idempotency_key or f"auto:{content}")
        if id(result) in repeats:
            continue
        draft = fresh[id(result)]
        assert (draft.digest, draft.ts) == (content, ts)
        for name in model.model_fields:
            got, want = getattr(draft.item, name), getattr(item, name)
            assert type(got) is type(want), (name, raw)
            assert got == want, (name, raw)


_TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", " a", "a ", "\u00a0a", "a\u3000", "\x1fa", "a\x85", "é", "x" * 257]),
)
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**66), max_value=2**66),
    st.sampled_from([2**53, 2**63 - 1, 2**63, -(2**63), 2**64 - 1, 10**18, 10**19]),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
    st.just(_SPLIT),
)
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)
_FIELD = st.one_of(_TEXT, st.none(), st.integers(), st.booleans())
_NAME = st.sampled_from(["acme", "ünï", "a b", "x" * 256])
_TIME = st.sampled_from(
    [
        "2026-10-05T12:00:00Z",
        "2026-10-05T12:00:00.5+02:00",
        " 2026-10-05T12:00:00Z",
        "2026-10-05T12:00:00Z ",
        "2026-10-05T12:00:00",
        "2026-10-05 12:00:00+01:00",
        "1969-12-31T23:59:59Z",
        "2199-12-31T23:59:59Z",
        "2026-10-05",
        "1790000000",
    ]
)
#: Each field of a sound signal, as clients send it.
_SOUND = {
    "customer_id": st.just("cus_1"),
    "agent": _NAME,
    "agent_id": st.just("agt_1"),
    "unit": _NAME,
    "idempotency_key": _NAME,
    "timestamp": _TIME,
    "data": st.dictionaries(st.sampled_from(["a", "b", "costData"]), _JSON, max_size=3),
    "trace_id": st.just("0123456789abcdef0123456789abcdef"),
    "cost_tracing": st.booleans(),
}
_ODD = st.one_of(
    _FIELD,
    _JSON,
    _TIME,
    st.dictionaries(_TEXT, _JSON, max_size=3),
    st.just("0123456789ABCDEF" * 2),
)


@st.composite
def _signals(draw: st.DrawFn) -> dict[str, Any]:
    """A sound signal, with at most two fields changed (or added, or taken away)."""
    item: dict[str, Any] = {"event_name": draw(_NAME), "customer": draw(_NAME)}
    for name, values in _SOUND.items():
        if draw(st.booleans()):
            item[name] = draw(values)
    names = st.sampled_from([*_SOUND, "event_name", "customer", "extra"])
    for _ in range(draw(st.integers(0, 2))):
        name = draw(names)
        if draw(st.booleans()):
            item[name] = draw(_ODD)
        else:
            item.pop(name, None)
    return item


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_signals(), _signals(), _signals(), _JSON), min_size=1, max_size=12))
def test_a_batch_of_signals_is_planned_as_each_alone(items: list[Any]) -> None:
    _same_plan(items, SignalIn)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(_TEXT, _JSON, max_size=5), min_size=1, max_size=8))
def test_a_batch_of_other_kinds_is_planned_as_each_alone(items: list[Any]) -> None:
    _same_plan([{"type": "t", "amount": "1", "currency": "USD", **i} for i in items], CostIn)
    _same_plan([{"type": "t", **i} for i in items], EventIn)


def test_items_beyond_what_the_encoder_checks_are_planned_alone() -> None:
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    bad = [
        {"customer": "c", "event_name": "e", "data": {"v": math.nan}},
        {"customer": "c", "event_name": "e", "data": {"v": [math.inf]}},
        {"customer": "c", "event_name": "e", "data": {"v": 2**63}},
        {"customer": "c", "event_name": "e", "data": {"v": -(2**63) - 1}},
        {"customer": "c", "event_name": "e", "data": {"v": 2**70}},
        {"customer": "c", "event_name": "e", "data": {"v": deep}},
        {"customer": "c", "event_name": "e", "data": {"v": "nul\x00"}},
        {"customer": "c", "event_name": "e", "data": {"v": "\ud800"}},
        {"customer": "c", "event_name": "e", "data": {"v": [1, _SPLIT, 2]}},
        ["not", "an", "object"],
    ]
    good = {"customer": "c", "event_name": "e", "data": {"v": 1}}
    for one in bad:
        _same_plan([good, one, good | {"idempotency_key": "k"}], SignalIn)
    _same_plan([good, *bad], SignalIn)


def test_quick_signals_only_where_the_model_reads_the_same() -> None:
    item = {"customer": "c", "event_name": "e", "timestamp": "2026-10-05T12:00:00Z"}
    quick = quick_signal(item)
    assert isinstance(quick, QuickSignal)
    assert quick._asdict() == dict(SignalIn.model_validate(item))
    for changed in (
        {"customer": "c "},
        {"data": {" k": 1}},
        {"cost_tracing": 1},
        {"data": None},
        {"customer": None},
        {"extra": 1},
    ):
        assert quick_signal(item | changed) is None


class _Text(BaseModel):
    model_config = SignalIn.model_config
    text: str


def test_text_quick_signals_keep_needs_no_stripping_by_the_model() -> None:
    # Python's strip removes every character pydantic's does (and U+001C…U+001F besides).
    # Unicode's white space is all in these categories: the others are not tried.
    texts = [
        f"x{chr(c)}"
        for c in range(0x110000)
        if unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp", "Cc", "Cf")
    ]
    read = TypeAdapter(list[_Text]).validate_python([{"text": t} for t in texts])
    stripped = [t for t, r in zip(texts, read, strict=True) if r.text != t]
    assert stripped
    assert all(t.strip() != t for t in stripped)


@pytest.mark.parametrize(
    "values",
    [
        [{"a": 1}, {"b": [1.5, None, "x"]}, {}],
        [{"a": _SPLIT}, {"b": [1, _SPLIT, 2]}],
        [{"a": 2**64 - 1}, {"b": "é\n"}],
        [{"a": 1}],
    ],
)
def test_json_texts_are_each_value_encoded_alone(values: list[Any]) -> None:
    assert json_texts(values) == [orjson.dumps(v).decode() for v in values]
