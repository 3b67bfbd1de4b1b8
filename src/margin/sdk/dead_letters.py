"""The dead-letter file: batches the server keeps failing on (a 5xx for that batch while it
accepts others), set aside so that delivery and spool replay go on without them, and what
the server refused for its content (each signal it listed as failed, or a batch it refused
whole), kept with its reason rather than lost.

``dead-letters.jsonl`` in the spool directory holds one JSON object per line: when (``at``),
the ``kind`` (``traces``, ``spans`` or ``signals``), how many ``items``, the ``reason`` (the
server's status and answer), and the exact request ``body`` (text for signals; for spans,
``body_base64``: gzip OTLP protobuf for ``traces``, gzip ``span_batch`` JSON for ``spans``)
so that it can be inspected and sent again."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import orjson

__all__ = ["DEAD_LETTER_FILE", "DeadLetters"]

DEAD_LETTER_FILE = "dead-letters.jsonl"


class DeadLetters:
    """Appends dead letters to ``dead-letters.jsonl`` in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / DEAD_LETTER_FILE

    def write(self, kind: str, count: int, payload: bytes, reason: str) -> None:
        """Append one dead batch; raises OSError if the disk refuses it."""
        record: dict[str, object] = {
            "at": datetime.now(UTC).isoformat(),
            "kind": kind,
            "items": count,
            "reason": reason,
        }
        if kind == "signals":
            record["body"] = payload.decode("utf-8", "replace")
        else:
            record["body_base64"] = base64.b64encode(payload).decode()
        line = orjson.dumps(record) + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write of an O_APPEND file: lines of processes sharing the spool never interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def size(self) -> int:
        """The file's size in bytes (0 before the first dead letter)."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read(self) -> list[dict[str, object]]:
        """Every dead letter so far, oldest first (an empty list when there is none)."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return [orjson.loads(line) for line in text.splitlines() if line.strip()]
