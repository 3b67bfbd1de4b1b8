"""One ingest message: what the edge accepted, as a writer replays it through the ledger.

The body is the payload as the ledger takes it (JSON items, or an OTLP export's protobuf);
the headers say what to do with it: the operation, the organization, the source, and the
time the edge received it (a fact sent without a time is dated by it, so a redelivery
dates it the same). ``Nats-Msg-Id`` lets JetStream drop a publish the edge retried.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import orjson

__all__ = ["OPS", "Envelope", "EnvelopeError", "Op"]

Op = Literal["signals", "costs", "events", "otlp"]
OPS: tuple[Op, ...] = ("signals", "costs", "events", "otlp")

_OP, _ORG, _NOW, _SOURCE, _ID = (
    "Margin-Op",
    "Margin-Org",
    "Margin-Received",
    "Margin-Source",
    "Nats-Msg-Id",
)


class EnvelopeError(ValueError):
    """A message no writer can read (it goes to the dead letters at once)."""


@dataclass(frozen=True)
class Envelope:
    op: Op
    org_id: str
    received: int  # µs since the epoch, at the edge
    source: str
    body: bytes
    msg_id: str = ""

    @classmethod
    def of_items(
        cls, op: Op, org_id: str, received: int, source: str, items: list[Any]
    ) -> Envelope:
        return cls(op, org_id, received, source, orjson.dumps(items), cls.new_id())

    @staticmethod
    def new_id() -> str:
        return os.urandom(12).hex()

    def headers(self) -> dict[str, str]:
        return {
            _OP: self.op,
            _ORG: self.org_id,
            _NOW: str(self.received),
            _SOURCE: self.source,
            _ID: self.msg_id or os.urandom(12).hex(),
        }

    @classmethod
    def read(cls, headers: dict[str, str] | None, body: bytes) -> Envelope:
        """The envelope of a delivered message; ``EnvelopeError`` names what is wrong."""
        h = headers or {}
        op = h.get(_OP, "")
        if op not in OPS:
            raise EnvelopeError(f"unknown operation {op!r}")
        org_id = h.get(_ORG, "")
        if not org_id:
            raise EnvelopeError("no organization")
        try:
            received = int(h.get(_NOW, ""))
        except ValueError:
            raise EnvelopeError("no reception time") from None
        return cls(op, org_id, received, h.get(_SOURCE, "api"), body, h.get(_ID, ""))

    def items(self) -> list[Any]:
        try:
            items = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"body is not JSON: {exc}") from None
        if not isinstance(items, list):
            raise EnvelopeError("body is not a list of items")
        return items
