"""HTTP plumbing shared by the REST client and the background exporter: settings from the
environment, JSON encoding with exact decimals, retry policy with backoff and jitter."""

from __future__ import annotations

import email.utils
import os
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

__all__ = [
    "DEFAULT_BASE_URL",
    "RETRYABLE_STATUS",
    "Call",
    "backoff_delay",
    "dumps",
    "new_idempotency_key",
    "resolve_api_key",
    "resolve_base_url",
    "resolve_ingest_key",
    "retry_after_seconds",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8400"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# A server may ask for a long pause; cap it so a retry loop stays bounded.
_MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class Call:
    """One REST request, described independently of sync or async execution."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    # A body that is not JSON (an exchange-rate file), sent as is with its media type.
    content: bytes | None = None
    content_type: str | None = None


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get("MARGIN_API_KEY") or None


def resolve_ingest_key(api_key: str | None) -> str | None:
    """The key tracing delivers with: ``MARGIN_INGEST_KEY``, so that an agent's ingest key
    and a reader's read key (``MARGIN_API_KEY``, the CLI's) can live side by side; else
    ``MARGIN_API_KEY`` as before."""
    return api_key or os.environ.get("MARGIN_INGEST_KEY") or resolve_api_key(None)


def resolve_base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get("MARGIN_BASE_URL") or DEFAULT_BASE_URL
    return url.rstrip("/")


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Money travels as a decimal string, never as a float.
        return format(value, "f")
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _check_aware(value: Any) -> None:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")


def dumps(body: Any) -> bytes:
    """JSON bytes; Decimals become decimal strings, aware datetimes RFC 3339 with offset."""
    if isinstance(body, dict):
        for value in body.values():
            _check_aware(value)
        for item in body.get("items") or ():
            if isinstance(item, dict):
                for value in item.values():
                    _check_aware(value)
    return orjson.dumps(body, default=_default)


def backoff_delay(attempt: int, base: float, cap: float = 8.0) -> float:
    """Exponential backoff with full jitter in [base·2ⁿ/2, base·2ⁿ]."""
    delay = min(cap, base * float(2**attempt))
    return delay / 2 + random.random() * delay / 2


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(seconds, _MAX_RETRY_AFTER))
