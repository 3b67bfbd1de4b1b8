"""What every request handler shares: settings, the store, the price book and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.requests import HTTPConnection

from margin._time import now_micros
from margin.pricing import Pricer
from margin.server.ledger import Ledger
from margin.settings import Settings
from margin.store.db import Database
from margin.store.keys import Principal

__all__ = ["AppState", "Publisher"]


class Publisher(Protocol):
    """Queue mode's edge (``margin.queue.edge.Publisher``): ingest is published to a stream
    for writers to store. Declared here so that the server needs no import of the queue."""

    def ledger(self, db: Database, pricer: Pricer, settings: Settings) -> Ledger: ...

    async def publish_export(self, org_id: str, request: ExportTraceServiceRequest) -> int: ...

    async def close(self) -> None: ...


@dataclass
class AppState:
    settings: Settings
    db: Database
    pricer: Pricer
    #: The time in µs: session expiry's, and ingest's "now" (tests set another clock).
    clock: Callable[[], int] = now_micros
    #: Queue mode's publisher (``MARGIN_QUEUE_URL``); None: ingest writes to the store.
    queue: Publisher | None = None
    #: Queue mode: API keys seen valid (by their hash), with the time they were last seen.
    known_keys: dict[str, tuple[Principal, int]] = field(default_factory=dict)

    def ledger(self) -> Ledger:
        """The ledger ingest goes through: the store's, or in queue mode the queue's."""
        if self.queue is not None:
            return self.queue.ledger(self.db, self.pricer, self.settings)
        return Ledger(self.db, self.pricer, self.settings, clock=self.clock)

    @staticmethod
    def of(request: HTTPConnection) -> AppState:
        state: AppState = request.app.state.margin
        return state
