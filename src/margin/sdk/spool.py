"""The on-disk spool: batches that could not be delivered yet, one file per batch.

A file holds the exact request body that would have been sent (gzip OTLP protobuf for spans,
JSON for signals), so a replay resends the same bytes with the same span ids and idempotency
keys and the server deduplicates. Files are written under a temporary name and renamed, so a
crash never leaves a half-written batch where the replayer would read it.

One spool directory is shared by every process of a user (``~/.cache/margin/spool``), and
those may deliver to other servers or organizations: a batch waits in the subdirectory of
its destination (``destination``: the server and the key it was sent with), and only a
process configured with the same ones replays it, never one whose key would file another
organization's costs as its own."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Spool", "SpoolFile", "default_spool_dir", "destination"]

_SUFFIX = ".batch"
# A batch being replayed is renamed to ``<name>.batch.sending-<pid>`` first: the rename is
# atomic, so of several processes sharing one spool directory exactly one sends it.
_CLAIM = ".sending-"
_counter = itertools.count()


def default_spool_dir() -> Path:
    """``MARGIN_SPOOL_DIR``, else ``~/.cache/margin/spool``."""
    configured = os.environ.get("MARGIN_SPOOL_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "margin" / "spool"


def destination(root: Path, base_url: str, api_key: str | None) -> Path:
    """The directory under ``root`` of the batches sent to ``base_url`` with ``api_key``
    (named by a digest: the key itself is not written to disk)."""
    digest = hashlib.blake2b(f"{base_url}\n{api_key or ''}".encode(), digest_size=8)
    return root / f"to-{digest.hexdigest()}"


@dataclass(frozen=True, slots=True)
class SpoolFile:
    """One spooled batch: its path, kind (``traces``, ``spans`` or ``signals``: the kinds of
    ``_endpoint``) and item count."""

    path: Path
    kind: str
    count: int

    def read(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    """A directory of batches, replayed oldest-first (names sort by creation time)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ready = False
        self._recover()

    def _recover(self) -> None:
        """Give back batches claimed by processes that died while sending them."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            base, sep, pid = name.partition(_CLAIM)
            if sep and pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.replace(self.directory / name, self.directory / base)

    def claim(self, spooled: SpoolFile) -> SpoolFile | None:
        """Take a batch for sending, or None if another process already took it."""
        claimed = spooled.path.with_name(f"{spooled.path.name}{_CLAIM}{os.getpid()}")
        try:
            os.rename(spooled.path, claimed)
        except OSError:
            return None
        return SpoolFile(claimed, spooled.kind, spooled.count)

    def release(self, claimed: SpoolFile) -> None:
        """Put a claimed batch back, to be replayed later."""
        original = claimed.path.name.partition(_CLAIM)[0]
        with contextlib.suppress(OSError):
            os.replace(claimed.path, claimed.path.with_name(original))

    def _ensure(self) -> None:
        if not self._ready:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._ready = True

    def write(self, kind: str, count: int, payload: bytes) -> SpoolFile:
        """Persist one batch atomically; raises OSError if the disk refuses it."""
        self._ensure()
        # time first so a sorted listing is oldest-first; pid and a counter keep names unique.
        stem = f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):08d}-{kind}-{count}"
        final = self.directory / f"{stem}{_SUFFIX}"
        temp = self.directory / f".{stem}.tmp"
        with open(temp, "wb") as handle:
            handle.write(payload)
        os.replace(temp, final)
        return SpoolFile(final, kind, count)

    def files(self) -> list[SpoolFile]:
        """Every complete spooled batch, oldest first."""
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(_SUFFIX))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            parts = name[: -len(_SUFFIX)].split("-")
            if len(parts) == 5 and parts[4].isdigit():
                out.append(SpoolFile(self.directory / name, parts[3], int(parts[4])))
        return out

    def oldest(self) -> SpoolFile | None:
        files = self.files()
        return files[0] if files else None

    def pending(self) -> int:
        """How many items wait on disk."""
        return sum(f.count for f in self.files())

    @staticmethod
    def remove(spooled: SpoolFile) -> None:
        # Another process sharing the directory may have replayed it first; the server dedupes.
        spooled.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True
