"""Sending one request body until it is done with, for the delivery worker.

A body is retried a bounded number of times. When the server stays unavailable (no
connection, 408, 429, 502–504), the body waits in the spool and the server is probed again
with backoff. When the server answers 5xx for this body while it takes others (it accepted
a part of this body, or another body since this one first failed), the body is split in
halves, each sent on its own, until the items it fails on are found: the others are
delivered and those go to the dead-letter file, so nothing waits behind them. A server that
fails every body (its database is down, say) sets nothing aside: the bodies wait in the
spool, and the replay goes on past them. A body refused for its size (413) is sent again in
halves at once, down to single items; an item too large on its own is set aside. What the
server refuses for its content (a 4xx, or signals it lists as failed) is counted rejected
and written to the dead-letter file too, with the server's reason."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from enum import Enum
from threading import Event

import orjson

from margin.sdk._endpoint import Endpoint, Outcome
from margin.sdk._http import backoff_delay
from margin.sdk._split import Part, split_payload
from margin.sdk.dead_letters import DeadLetters
from margin.sdk.span_batch import as_otlp

__all__ = ["Result", "Sender"]

# A server asking for a longer pause than this gets the batch spooled instead of a blocked worker.
_MAX_INLINE_WAIT = 5.0
# How many times a failing body is halved while nothing shows the server takes other writes.
_BLIND_DEPTH = 3
# Bodies the server failed on are remembered (by digest) up to this many.
_FAILED_MAX = 4096
# Items the server refuses are kept while the dead-letter file is smaller than this: an
# integration sending bad data all day must not fill the disk (they are counted still).
_REFUSED_KEPT_BYTES = 64 * 1024 * 1024


class Result(Enum):
    """What became of a body: done (delivered, refused, or its failing items
    dead-lettered and the rest delivered or spooled); the server is down (stop, wait: it is
    marked down); kept (the server failed on it, and nothing tells yet whether it takes
    other writes: try others, and this one again later)."""

    DONE = "done"
    DOWN = "down"
    KEPT = "kept"


class Sender:
    """Sends bodies for one delivery: counts what happens through ``count``, spools through
    ``persist`` (told whether the items came from the spool, and so were counted there
    already), sets failing items aside in ``dead_letters``."""

    def __init__(
        self,
        endpoint: Endpoint,
        dead_letters: DeadLetters,
        *,
        retry_backoff: float,
        abort: Event,
        count: Callable[[str, int], None],
        persist: Callable[[str, int, bytes, bool], object],
        warn: Callable[..., None],
    ) -> None:
        self.endpoint = endpoint
        self.dead_letters = dead_letters
        self.retry_backoff = retry_backoff
        self.abort = abort
        self.count = count
        self.persist = persist
        self.warn = warn
        #: Whether the server is unavailable: new batches go straight to the spool.
        self.down = False
        #: When (``time.monotonic``) to try the spool again.
        self.next_probe = 0.0
        self._streak = 0
        #: Bodies accepted so far; and for a body the server failed on, how many had been
        #: accepted then (by the body's digest).
        self._accepted = 0
        self._failed: dict[bytes, int] = {}

    def up(self) -> None:
        """The spool was replayed: the server is available again."""
        self.down = False
        self._streak = 0

    def send(
        self,
        kind: str,
        n: int,
        payload: bytes,
        attempts: int,
        *,
        replayed: bool,
        origin: int | None = None,
        depth: int = 0,
    ) -> Result:
        """Deliver one body of ``n`` items (see ``Result``). Nothing of a body that is not
        done was delivered: the caller keeps it."""
        if origin is None:
            origin = self._accepted
        if kind == "spans" and not self.endpoint.takes_spans:
            return self._as_otlp(n, payload, attempts, replayed)
        outcome = self._attempt(kind, payload, attempts)
        if outcome.kind == "unsupported":  # a server that takes only OTLP
            self.endpoint.takes_spans = False
            return self._as_otlp(n, payload, attempts, replayed)
        if outcome.kind in ("ok", "reject"):
            self._record(outcome, n, replayed=replayed)
            if outcome.kind == "reject" or outcome.refused:
                self._keep_refused(kind, n, payload, outcome)
            return Result.DONE
        if outcome.kind == "unavailable":
            self.mark_down(outcome.retry_after)
            return Result.DOWN
        if outcome.kind == "too_large":  # sent again in halves; one item too large is set aside
            halves = split_payload(kind, payload)
            if halves is None:
                self._dead_letter(kind, n, payload, outcome.detail)
                return Result.DONE
            return self._send_halves(kind, halves, replayed, origin, depth)
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        seen = self._failed.get(digest)
        # The server fails on this body: does it take others?
        works = self._accepted > origin or (seen is not None and self._accepted > seen)
        if works:
            halves = split_payload(kind, payload)
            if halves is None:
                self._dead_letter(kind, n, payload, outcome.detail)
                return Result.DONE
        elif seen is None and depth < _BLIND_DEPTH:
            # Nothing tells yet: a few halvings show whether parts of it go through.
            halves = split_payload(kind, payload)
        else:
            halves = None
        if halves is None:
            if seen is None:
                if len(self._failed) >= _FAILED_MAX:
                    self._failed.clear()
                self._failed[digest] = self._accepted
            return Result.KEPT
        return self._send_halves(kind, halves, replayed, origin, depth)

    def _as_otlp(self, n: int, payload: bytes, attempts: int, replayed: bool) -> Result:
        """Send a ``spans`` body as the OTLP body of the same spans."""
        try:
            otlp = as_otlp(payload)
        except Exception as exc:  # a spool file no longer readable: kept aside, not lost
            self._dead_letter("spans", n, payload, f"cannot be read as spans: {exc}")
            return Result.DONE
        return self.send("traces", n, otlp, attempts, replayed=replayed)

    def _send_halves(
        self,
        kind: str,
        halves: tuple[Part, Part],
        replayed: bool,
        origin: int,
        depth: int,
    ) -> Result:
        """Send each half on its own; a half not done waits in the spool."""
        for part_n, part in halves:
            if self.down:
                self.persist(kind, part_n, part, replayed)
                continue
            sent = self.send(
                kind, part_n, part, 1, replayed=replayed, origin=origin, depth=depth + 1
            )
            if sent is not Result.DONE:
                self.persist(kind, part_n, part, replayed)
        return Result.DONE

    def mark_down(self, retry_after: float | None) -> None:
        """The server is unavailable: spool, and try again after a backoff."""
        self.down = True
        self._streak += 1
        wait = backoff_delay(self._streak - 1, self.retry_backoff, cap=30.0)
        self.next_probe = time.monotonic() + max(wait, retry_after or 0.0)

    def _attempt(self, kind: str, payload: bytes, attempts: int) -> Outcome:
        """Post ``payload`` up to ``attempts`` times while the server fails, with backoff."""
        outcome = Outcome("unavailable")
        for attempt in range(attempts):
            outcome = self.endpoint.post(kind, payload)
            if outcome.kind in ("ok", "reject", "too_large", "unsupported"):
                return outcome
            self.count("failed_attempts", 1)
            delay = outcome.retry_after
            if delay is None:
                delay = backoff_delay(attempt, self.retry_backoff)
            if attempt + 1 == attempts or delay > _MAX_INLINE_WAIT or self.abort.wait(delay):
                break
        return outcome

    def _record(self, outcome: Outcome, n: int, *, replayed: bool) -> None:
        if outcome.kind == "reject":
            self.count("rejected", n)
            return
        self._accepted += 1
        self.count("exported", n - outcome.rejected)
        self.count("rejected", outcome.rejected)
        if replayed:
            self.count("replayed", n - outcome.rejected)

    def _keep_refused(self, kind: str, n: int, payload: bytes, outcome: Outcome) -> None:
        """Write what the server refused to the dead-letter file with its reason: each
        signal it named on its own (a billable outcome is not lost to a counter), else the
        whole body refused. Counted as ``rejected`` already; announced once per kind and
        status."""
        letters: list[tuple[int, bytes, str]] = [(n, payload, outcome.detail)]
        if outcome.refused:
            items = orjson.loads(payload)["items"]  # the body this process wrote
            letters = [
                (1, orjson.dumps({"items": [items[index]]}), f"refused by the server: {reason}")
                for index, reason in outcome.refused
                if 0 <= index < len(items)
            ]
        if self.dead_letters.size() >= _REFUSED_KEPT_BYTES:
            self.warn(
                "refused-full",
                "margin: %s holds %s MB; items the server refuses are only counted now",
                self.dead_letters.path,
                _REFUSED_KEPT_BYTES // (1024 * 1024),
            )
            kept = False
        else:
            kept = self._write(kind, letters)
        self.warn(
            f"refused-{kind}-{outcome.status}",
            "margin: the server refused %s %s item(s) (%s); %s",
            sum(count for count, _body, _reason in letters),
            kind,
            letters[0][2] if letters else outcome.detail,
            f"kept in {self.dead_letters.path}" if kept else "counted as rejected",
        )

    def _dead_letter(self, kind: str, n: int, payload: bytes, reason: str) -> None:
        if not self._write(kind, [(n, payload, reason)]):
            self.count("dropped", n)
            return
        self.warn(
            f"dead-{kind}",
            "margin: the server keeps failing on %s %s item(s) (%s); set aside in %s",
            n,
            kind,
            reason,
            self.dead_letters.path,
        )
        self.count("dead_lettered", n)

    def _write(self, kind: str, letters: list[tuple[int, bytes, str]]) -> bool:
        """Append (items, body, reason) letters; False, once warned, if the disk refuses."""
        try:
            for count, body, reason in letters:
                self.dead_letters.write(kind, count, body, reason)
        except OSError as exc:
            self.warn("dead-letter", "margin: cannot write %s (%s)", self.dead_letters.path, exc)
            return False
        return True
