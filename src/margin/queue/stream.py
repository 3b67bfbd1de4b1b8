"""The JetStream side shared by the edge, the writers and the API: a connection, the two
streams (ingest messages, dead letters) made on first use, the consumer's lag and the dead
letters of an organization."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from margin.queue.config import QueueConfig

__all__ = ["DeadLetter", "Lag", "Stream"]

log = logging.getLogger("margin.queue")

#: How long JetStream keeps dead letters (seconds).
DEAD_LETTER_AGE = 30 * 24 * 3600.0
#: How long JetStream remembers a message id to drop a publish retried by the edge (seconds).
DUPLICATE_WINDOW = 120.0
#: How long a first connection is tried before the caller hears that JetStream is away
#: (seconds): nats-py, told to reconnect forever, would otherwise try it forever.
CONNECT_DEADLINE = 5.0


@dataclass(frozen=True)
class Lag:
    """What the writers have not stored yet: messages, and the age of the oldest (seconds)."""

    messages: int
    seconds: float
    dead_letters: int

    def body(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "seconds": round(self.seconds, 3),
            "dead_letters": self.dead_letters,
        }


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    time: str
    op: str
    reason: str
    body: str


class Stream:
    """One connection to JetStream, opened on first use on the running event loop."""

    def __init__(self, config: QueueConfig, name: str = "margin") -> None:
        self.config = config
        self.name = name
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._said = ""

    async def js(self, deadline: float = CONNECT_DEADLINE) -> JetStreamContext:
        """The JetStream context, connecting first if need be: ``TimeoutError`` when no
        server took the connection within ``deadline`` seconds. Once connected, a lost
        server is reconnected to in the background, for as long as it takes."""
        if self._js is None or self._nc is None or self._nc.is_closed:
            if self._nc is not None and not self._nc.is_closed:
                await self._nc.close()
            self._nc = None
            nc = Client()
            try:
                await asyncio.wait_for(
                    nc.connect(
                        self.config.servers,
                        name=self.name,
                        connect_timeout=2,
                        reconnect_time_wait=0.2,  # type: ignore[arg-type]  # seconds, typed int
                        max_reconnect_attempts=-1,
                        allow_reconnect=True,
                        error_cb=self._error,
                        reconnected_cb=self._reconnected,
                    ),
                    deadline,
                )
                js = nc.jetstream(timeout=5)
                await self._ensure(js)  # kept only once the streams exist
            except BaseException:
                with contextlib.suppress(Exception):
                    await nc.close()
                raise
            await self._reconnected()
            self._nc, self._js = nc, js
        return self._js

    async def _error(self, exc: Exception) -> None:
        # nats-py's default logs a traceback at each attempt (five a second while the
        # server is away); this says each new reason once.
        said = f"{type(exc).__name__}: {exc}"
        if said != self._said:
            self._said = said
            log.warning("margin: NATS at %s: %s; retrying", self.config.url, said)

    async def _reconnected(self) -> None:
        if self._said:
            log.warning("margin: NATS at %s: connected", self.config.url)
        self._said = ""

    @property
    def max_payload(self) -> int:
        return self._nc.max_payload if self._nc is not None else 1024 * 1024

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc = self._js = None

    async def _ensure(self, js: JetStreamContext) -> None:
        c = self.config
        wanted = [
            StreamConfig(
                name=c.stream,
                subjects=[f"{c.subject}.>"],
                retention=RetentionPolicy.WORK_QUEUE,  # a stored message is gone
                storage=StorageType.FILE,
                num_replicas=c.replicas,
                duplicate_window=DUPLICATE_WINDOW,
            ),
            StreamConfig(
                name=c.dead_stream,
                subjects=[f"{c.dead_subject}.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                num_replicas=c.replicas,
                max_age=DEAD_LETTER_AGE,
                duplicate_window=DUPLICATE_WINDOW,
            ),
        ]
        for config in wanted:
            try:
                await js.stream_info(config.name or "")
            except NotFoundError:
                try:
                    await js.add_stream(config)
                except BadRequestError as exc:  # made meanwhile by another process
                    log.debug("stream %s: %s", config.name, exc)

    async def lag(self, deadline: float = CONNECT_DEADLINE) -> Lag:
        """Messages not yet stored (with work-queue retention a stored message leaves the
        stream, so the stream's first message is the oldest one waiting); ``deadline`` as
        for ``js``."""
        js = await self.js(deadline)
        state = (await js.stream_info(self.config.stream)).state
        dead = (await js.stream_info(self.config.dead_stream)).state.messages
        seconds = 0.0
        if state.messages:
            try:
                first = await js.get_msg(self.config.stream, state.first_seq)
            except NotFoundError:  # stored meanwhile
                first = None
            if first is not None and first.time is not None:
                seconds = max(0.0, (datetime.now(UTC) - first.time).total_seconds())
        return Lag(state.messages, seconds, dead)

    async def dead_letters(self, org_id: str, limit: int = 100) -> list[DeadLetter]:
        """An organization's dead letters, oldest first."""
        js = await self.js()
        subject = self.config.dead_letter_subject(org_id)
        found: list[DeadLetter] = []
        seq = 1
        while len(found) < limit:
            try:
                raw = await js.get_msg(self.config.dead_stream, seq, subject=subject, next=True)
            except NotFoundError:
                break
            h = raw.headers or {}
            if h.get("Margin-Org") == org_id:
                found.append(
                    DeadLetter(
                        seq=raw.seq or 0,
                        time=(raw.time or datetime.now(UTC)).isoformat(),
                        op=h.get("Margin-Op", ""),
                        reason=h.get("Margin-Reason", ""),
                        body=(raw.data or b"").decode("utf-8", "replace")[:10_000],
                    )
                )
            seq = (raw.seq or seq) + 1
        return found
