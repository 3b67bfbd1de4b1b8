"""Queue mode: ingest through a replicated NATS JetStream stream.

With ``MARGIN_QUEUE_URL`` set, the API validates an ingest request as in direct mode,
publishes the accepted items to JetStream and answers once JetStream has acknowledged them
(``edge``); ``margin worker`` processes (``writer``) store them through the same ``Ledger``
as the direct path, idempotent by the items' keys, and acknowledge after the commit. See
docs/scaling.md.
"""

from __future__ import annotations

from margin.queue.config import QueueConfig

__all__ = ["QueueConfig"]
