"""What an ingest batch answers: one result per item (ingested, duplicate, conflict or
failed), and the content digest that tells a retry from a different item under one key."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from pydantic import BaseModel, ValidationError

__all__ = [
    "BatchAnswer",
    "BatchResult",
    "FailedItem",
    "IngestProblem",
    "ItemResult",
    "ItemStatus",
    "SingleAnswer",
    "content_hash",
    "digest",
    "mark_conflict",
    "mark_invalid",
    "settle_repeats",
]


def content_hash(item: Mapping[str, Any]) -> str:
    """A digest of an item as sent: a retry hashes the same. (Hashes are only compared
    between items with the same idempotency key, so the key itself may be part of it.)"""
    return digest(orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str))


def digest(canonical: bytes) -> str:
    """The content digest of an item's canonical JSON (keys sorted, as ``content_hash``)."""
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


@dataclass(slots=True)
class ItemResult:
    index: int
    status: str  # ingested | duplicate | conflict | failed
    id: str | None = None
    idempotency_key: str | None = None
    field: str | None = None
    detail: str | None = None


def mark_conflict(result: ItemResult) -> None:
    result.status = "conflict"
    result.field = "idempotency_key"
    result.detail = "idempotency key already used with different content"


def mark_invalid(result: ItemResult, exc: ValidationError) -> None:
    """Fail an item with the first of its validation errors: the field's dotted path, and the
    message (whole-item rules, "customer or customer_id is required", name their field first)."""
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    result.field = ".".join(loc) if loc else message.split(" ", 1)[0]
    result.detail = message.removeprefix(f"{result.field}: ")


class _First(Protocol):
    @property
    def result(self) -> ItemResult: ...
    @property
    def digest(self) -> str: ...


def settle_repeats(
    repeats: list[tuple[ItemResult, str, str]], first_of: Mapping[str, _First]
) -> None:
    """Results of items that repeat an earlier item's key in the same batch (each given as
    its result, key and digest): a duplicate of the first if the content is the same."""
    for result, key, digest in repeats:
        first = first_of[key]
        if first.result.status in ("ingested", "duplicate") and first.digest == digest:
            result.status, result.id = "duplicate", first.result.id
        elif first.digest != digest:
            mark_conflict(result)
        else:
            result.field, result.detail = first.result.field, first.result.detail


@dataclass(slots=True)
class BatchResult:
    items: list[ItemResult]

    def _count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def ingested(self) -> int:
        return self._count("ingested")

    @property
    def duplicates(self) -> int:
        return self._count("duplicate")

    @property
    def accepted(self) -> int:
        """Items published to the ingest queue (queue mode), to be stored by a writer."""
        return self._count("accepted")

    @property
    def failed(self) -> list[ItemResult]:
        return [i for i in self.items if i.status in ("failed", "conflict")]

    def body(self) -> dict[str, Any]:
        counts = Counter(i.status for i in self.items)
        accepted = counts["accepted"]
        return {
            **({"accepted": accepted} if accepted else {}),
            "ingested": counts["ingested"],
            "duplicates": counts["duplicate"],
            "failed": [
                {
                    "index": i.index,
                    "idempotency_key": i.idempotency_key,
                    "status": i.status,
                    "field": i.field,
                    "detail": i.detail,
                }
                for i in self.failed
            ],
            "items": [{"index": i.index, "id": i.id, "status": i.status} for i in self.items],
        }


# -- what the ingest endpoints answer (response models, for /openapi.json) -----------------

ItemStatus = Literal["ingested", "accepted", "duplicate", "conflict", "failed"]


class ItemOutcome(BaseModel):
    index: int
    id: str | None
    status: ItemStatus


class FailedItem(BaseModel):
    index: int
    idempotency_key: str | None
    status: Literal["conflict", "failed"]
    field: str | None
    detail: str | None


class BatchAnswer(BaseModel):
    """The result of every item of a batch, in order (200). In queue mode, ``accepted``
    counts the items published to the ingest queue (202 for one item)."""

    accepted: int | None = None
    ingested: int
    duplicates: int
    failed: list[FailedItem]
    items: list[ItemOutcome]


class SingleAnswer(BatchAnswer):
    """One item: 201 when stored now, 200 when it was stored before (a duplicate)."""

    id: str | None
    status: ItemStatus


class IngestProblem(BatchAnswer):
    """No item stored (422: every item invalid; 409: a key reused with other content):
    a problem naming the first failed item's field, with every item's result."""

    type: str
    title: str
    status: int
    detail: str
    field: str
