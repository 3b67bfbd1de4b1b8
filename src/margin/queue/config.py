"""Where the queue is and how its streams are made, read from ``MARGIN_QUEUE_*`` variables."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from margin.settings import SettingsError, env_int

__all__ = ["QueueConfig"]


@dataclass(frozen=True)
class QueueConfig:
    """A JetStream deployment: servers (``nats://host:port``, comma-separated), the stream of
    ingest messages and the stream of dead letters."""

    url: str
    #: Copies of each message JetStream keeps (3 in production: one node may fail).
    replicas: int = 1
    #: Deliveries of a message that fails (for a reason other than an unreachable
    #: database) before it goes to the dead letters.
    max_deliver: int = 5
    stream: str = "MARGIN_INGEST"
    dead_stream: str = "MARGIN_DEAD"
    #: The durable pull consumer all writers share.
    consumer: str = "margin-writers"
    subject: str = "margin.ingest"
    dead_subject: str = "margin.dead"
    #: How long a writer may hold a message before JetStream hands it to another (seconds);
    #: a writer waiting for its database keeps extending it.
    ack_wait: float = 30.0

    @classmethod
    def from_env(cls, url: str | None = None) -> QueueConfig | None:
        """The queue named by ``url`` or ``MARGIN_QUEUE_URL``; None (direct mode) if neither."""
        url = (url or os.environ.get("MARGIN_QUEUE_URL") or "").strip()
        return cls.of(url) if url else None

    @classmethod
    def of(cls, url: str) -> QueueConfig:
        """The queue at ``url``, made as the ``MARGIN_QUEUE_*`` variables say."""
        for server in url.split(","):
            if not server.strip().startswith(("nats://", "tls://")):
                raise SettingsError(
                    f"MARGIN_QUEUE_URL must list nats://host:port servers, not {server!r}"
                )
        return cls(
            url=url,
            replicas=env_int("MARGIN_QUEUE_REPLICAS", 1, minimum=1),
            max_deliver=env_int("MARGIN_QUEUE_MAX_DELIVER", 5, minimum=1),
            stream=os.environ.get("MARGIN_QUEUE_STREAM") or "MARGIN_INGEST",
            ack_wait=float(env_int("MARGIN_QUEUE_ACK_WAIT", 30, minimum=1)),
        )

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.url.split(",") if s.strip()]

    def ingest_subject(self, org_id: str) -> str:
        return f"{self.subject}.{_token(org_id)}"

    def dead_letter_subject(self, org_id: str) -> str:
        return f"{self.dead_subject}.{_token(org_id)}"


def _token(org_id: str) -> str:
    """An organization as one subject token (its id, unless the id holds what a subject may
    not: then its digest; the id itself travels in a header)."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,128}", org_id):
        return org_id
    return "h" + hashlib.sha256(org_id.encode()).hexdigest()[:32]
