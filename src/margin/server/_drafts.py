"""From a batch's raw items to drafts ready to store, with no store access: each item checked
(``check_json``, then its model), its time checked, its content digested and its idempotency
key chosen. An item repeating a key of the same batch waits for the first one's outcome.

Idempotency keys: the caller's, or derived. Without one, an item's key is its content's
digest (``dedupe="content"``, the default): sending the same content again, now or in a year,
is a duplicate, never a second fact. A client that really sends identical facts asks for
``dedupe="none"``: each item without a key is then stored as a new fact.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import add
from typing import Any, Literal

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from margin._payload import MAX_DEPTH, PayloadError, canonical_json
from margin._time import to_micros
from margin.server._batchjson import encode_each
from margin.server._quick import quick_signal
from margin.server._results import (
    BatchResult,
    ItemResult,
    digest,
    mark_invalid,
    settle_repeats,
)
from margin.server.items import MAX_KEY_LENGTH, SignalIn

__all__ = ["Dedupe", "Draft", "Drafts", "derived_key", "plan"]

Dedupe = Literal["content", "none"]


def derived_key(key: str, suffix: str) -> str:
    """The key of a fact derived from another (a signal's cost: ``<key>:cost``), within the
    key column's length whatever the original key's: a key too long to take the suffix is
    replaced by its digest (``sha256:<hex>:cost``)."""
    derived = f"{key}:{suffix}"
    if len(derived) <= MAX_KEY_LENGTH:
        return derived
    return f"sha256:{hashlib.sha256(key.encode()).hexdigest()}:{suffix}"


@dataclass(slots=True)
class Draft:
    """One item on its way to a row."""

    result: ItemResult
    raw: dict[str, Any]
    item: Any
    key: str
    digest: str
    ts: int
    #: Kind-specific preparation (a cost's price, a signal's cost), set by ``prepare``.
    extra: Any = None


#: Prepares a checked draft further (prices a cost, checks a signal's cost): None, or the
#: (field, detail) that fails the item.
Prepare = Callable[[Draft], "tuple[str, str] | None"]


@dataclass
class Drafts:
    """A batch's items: results for all, drafts for those to store (the first of each key)."""

    results: list[ItemResult]
    fresh: list[Draft] = field(default_factory=list)
    first_of: dict[str, Draft] = field(default_factory=dict)
    repeats: list[tuple[ItemResult, str, str]] = field(default_factory=list)

    def restart(self) -> None:
        """Forget what a rolled-back write attempt set on the drafts' results."""
        for draft in self.fresh:
            result = draft.result
            result.status, result.id, result.field, result.detail = "failed", None, None, None

    def settle(self) -> BatchResult:
        settle_repeats(self.repeats, self.first_of)
        return BatchResult(self.results)


def plan(
    items: Sequence[Any],
    model: type[BaseModel],
    now: int,
    horizon: int,
    dedupe: Dedupe = "content",
    prepare: Prepare | None = None,
) -> Drafts:
    """Check and digest a batch's items (``horizon``: the latest time a fact may have)."""
    drafts = Drafts([ItemResult(i, "failed") for i in range(len(items))])
    free_form: tuple[str, ...] = model.free_form  # type: ignore[attr-defined]
    # One encoder call, and signals checked without their model: bench/ingest_steps.py's plan
    # of 1,000 signals 7.3 -> 4.6 ms (with the rows as tuples, HTTP CPU a batch -16 %).
    canonicals = _canonicals(items, free_form, drafts.results)
    sound = [
        (result, raw, canonical)
        for result, raw, canonical in zip(drafts.results, items, canonicals, strict=True)
        if canonical is not None
    ]
    checked = _validated(model, [raw for _result, raw, _canonical in sound])
    first_of, fresh, repeats = drafts.first_of, drafts.fresh, drafts.repeats
    for (result, raw, canonical), item in zip(sound, checked, strict=True):
        if isinstance(item, ValidationError):
            mark_invalid(result, item)
            continue
        ts = now if item.timestamp is None else to_micros(item.timestamp)
        if ts > horizon:
            result.field = "timestamp"
            result.detail = (
                f"timestamp is more than {(horizon - now) // 1_000_000} s in the future "
                "(MARGIN_MAX_FUTURE_SECONDS)"
            )
            continue
        content = digest(canonical)
        key = item.idempotency_key or (
            f"auto:{content}" if dedupe == "content" else f"unique:{os.urandom(16).hex()}"
        )
        result.idempotency_key = key
        if key in first_of:
            repeats.append((result, key, content))
            continue
        draft = Draft(result, raw, item, key, content, ts)
        if prepare is not None:
            problem = prepare(draft)
            if problem is not None:
                result.field, result.detail = problem
                continue
        first_of[key] = draft
        fresh.append(draft)
    return drafts


def _canonical(raw: Any, free_form: tuple[str, ...], result: ItemResult) -> bytes | None:
    """The item's canonical JSON, once it is an object any store can hold; None if not."""
    if not isinstance(raw, dict):
        result.field, result.detail = "body", "each item must be a JSON object"
        return None
    try:
        return canonical_json(raw, free_form)
    except PayloadError as exc:
        result.field, result.detail = exc.field, exc.detail
        return None


#: What the encoder writes for NUL (refused), and for a number that is not finite.
_NUL, _NULL = b"\\u0000", b"null"
_DIGITS = bytes.maketrans(b"0123456789", b"0" * 10)
#: An integer past 64 bits is 19 digits long at least.
_LONG_INT = b"0" * 19
_SORTED = orjson.OPT_SORT_KEYS


def _canonicals(
    items: Sequence[Any], free_form: tuple[str, ...], results: list[ItemResult]
) -> list[bytes | None]:
    """Each item's ``canonical_json`` (byte for byte), or None with its result failed.

    The batch is encoded in one call (``encode_each``). An item's part of it is taken when
    the part proves all that ``canonical_json`` checks: no NUL, no number that is not finite
    (the encoder writes ``null``), no integer past 64 bits, nesting within ``MAX_DEPTH``
    (no more brackets than that). Any other item is encoded alone by ``canonical_json``.
    """
    parts: list[bytes | None] = [None] * len(items)
    if items and all(raw.__class__ is dict for raw in items):
        parts = _sound_parts(list(items)) or parts
    for i, part in enumerate(parts):
        if part is None:
            parts[i] = _canonical(items[i], free_form, results[i])
    return parts


def _sound_parts(items: list[dict[str, Any]]) -> list[bytes | None] | None:
    """The items' parts of the batch's encoding, None for each item that needs a closer
    look (None for all when the batch does not encode)."""
    found: list[bytes] | None = encode_each(items, _SORTED | orjson.OPT_STRICT_INTEGER)
    wide = found is None  # an integer past 53 bits: the encoder stops at 64
    if found is None:
        found = encode_each(items, _SORTED)
        if found is None:
            return None
    parts: list[bytes | None] = list(found)
    joined = b"".join(found)
    if _NUL in joined:
        _doubt(parts, lambda part: _NUL in part)
    if _NULL in joined:
        _doubt(parts, lambda part: _NULL in part)
    if wide and _LONG_INT in joined.translate(_DIGITS):
        _doubt(parts, lambda part: _LONG_INT in part.translate(_DIGITS))
    opening = map(bytes.count, found, repeat(b"{")), map(bytes.count, found, repeat(b"["))
    brackets = list(map(add, *opening))
    if max(brackets) > MAX_DEPTH:
        for i, count in enumerate(brackets):
            if count > MAX_DEPTH:
                parts[i] = None
    return parts


def _doubt(parts: list[bytes | None], test: Callable[[bytes], bool]) -> None:
    for i, part in enumerate(parts):
        if part is not None and test(part):
            parts[i] = None


_ADAPTERS: dict[type[BaseModel], TypeAdapter[list[Any]]] = {}
#: Models with a quick check of their common case (see ``_quick``).
_QUICK: dict[type[BaseModel], Callable[[dict[str, Any]], Any]] = {SignalIn: quick_signal}


def _validated(model: type[BaseModel], raws: list[dict[str, Any]]) -> list[Any]:
    """Each item as its model reads it, or the ``ValidationError`` it fails with."""
    quick = _QUICK.get(model)
    if quick is None:
        return _by_model(model, raws)
    checked = [quick(raw) for raw in raws]
    slow = [i for i, item in enumerate(checked) if item is None]
    if slow:
        for i, item in zip(slow, _by_model(model, [raws[i] for i in slow]), strict=True):
            checked[i] = item
    return checked


def _by_model(model: type[BaseModel], raws: list[dict[str, Any]]) -> list[Any]:
    """Each item as its model, or the ``ValidationError`` it fails with. The whole list is
    validated in one call; a list holding a bad item is validated again item by item, so
    that each item is answered with its own first error."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    try:
        # One call for the list: with the other batch-wide steps of the ledger,
        # bench/ingest.py's ledger CPU for 1,000 signals went from 24.4 to 21.7 ms.
        return adapter.validate_python(raws)
    except ValidationError:
        pass
    checked: list[Any] = []
    for raw in raws:
        try:
            checked.append(model.model_validate(raw))
        except ValidationError as exc:
            checked.append(exc)
    return checked
