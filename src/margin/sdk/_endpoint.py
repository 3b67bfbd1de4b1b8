"""The server's ingest endpoints as delivery sees them: one body posted, and the answer
classified as delivered, refused, unavailable or failed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from margin.sdk._http import retry_after_seconds
from margin.sdk.span_batch import MEDIA_TYPE

__all__ = ["Endpoint", "Outcome"]

_PATHS: dict[str, tuple[str, dict[str, str]]] = {
    "traces": (
        "/v1/traces",
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
    ),
    "spans": ("/v1/traces", {"Content-Type": MEDIA_TYPE, "Content-Encoding": "gzip"}),
    "signals": ("/v1/signals", {"Content-Type": "application/json"}),
}
# Answers that say the server (or the way to it) is unavailable, not that it failed on this
# body: the body waits in the spool and is sent again later.
_UNAVAILABLE = frozenset({408, 429, 502, 503, 504})
# Answers that say the request was not taken as configured (the key refused, or the URL not
# a Margin server's ingest, or moved: a redirect, which is not followed with the key): nothing
# is wrong with the body, which is the customers' costs and outcomes. It waits in the spool
# too, under this key and URL (see ``spool``), until the server takes them.
_NOT_TAKEN = frozenset({*range(300, 400), 401, 403, 404, 405})


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the server answered one body.

    ``ok``: delivered (``rejected`` items refused inside it); ``reject``: refused whole (4xx);
    ``too_large``: refused for its size (413), so its halves may pass; ``unsupported``: a
    ``spans`` body refused for its format (415: a server that takes only OTLP); ``unavailable``: not
    reachable, overloaded (``retry_after`` when it said so) or not taking requests as
    configured (3xx, 401, 403, 404, 405); ``failed``: it answered 5xx for this body."""

    kind: Literal["ok", "reject", "too_large", "unsupported", "unavailable", "failed"]
    rejected: int = 0
    retry_after: float | None = None
    detail: str = ""
    #: The signals the server refused (by index in the body) and why, as it answered.
    refused: tuple[tuple[int, str], ...] = ()
    #: The HTTP status of the answer (0 when there was none).
    status: int = 0


class Endpoint:
    """Posts bodies to one server; ``warn`` reports a failure (once per kind of failure)."""

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        headers: dict[str, str],
        warn: Callable[..., None],
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.headers = headers
        self.warn = warn
        #: False once the server refused a ``spans`` body for its format: spans then go as
        #: OTLP (``traces``) to it.
        self.takes_spans = True

    def post(self, kind: str, payload: bytes) -> Outcome:
        path, headers = _PATHS[kind]
        try:
            response = self.http.post(
                self.base_url + path, content=payload, headers={**self.headers, **headers}
            )
        except httpx.HTTPError as exc:
            self.warn("connection", "margin: cannot reach %s (%s); spooling", self.base_url, exc)
            return Outcome("unavailable", detail=str(exc))
        status = response.status_code
        if 200 <= status < 300:
            if kind == "signals":
                refused = _refused_signals(response)
                return Outcome("ok", rejected=len(refused), refused=refused, status=status)
            return Outcome("ok", rejected=_rejected_spans(response), status=status)
        detail = f"server answered {status}: {response.text[:300]}"
        if status in _UNAVAILABLE:
            self.warn(f"status-{status}", "margin: server answered %s; will retry", status)
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            return Outcome("unavailable", retry_after=wait, detail=detail)
        if status in _NOT_TAKEN:
            moved = response.headers.get("Location")
            self.warn(
                f"status-{status}",
                "margin: %s answered %s%s (check the ingest key and base URL); keeping the "
                "batches in the spool until it accepts them",
                self.base_url,
                status,
                f", redirecting to {moved}" if moved else "",
            )
            return Outcome("unavailable", detail=detail)
        if status >= 500:
            self.warn(f"status-{status}", "margin: server answered %s; will retry", status)
            return Outcome("failed", detail=detail)
        if status == 415 and kind == "spans":
            self.warn(
                "spans-unsupported",
                "margin: %s does not take Margin's span format (415); sending OTLP",
                self.base_url,
            )
            return Outcome("unsupported", detail=detail, status=status)
        if status == 413:
            self.warn(
                "too-large",
                "margin: the server refused a %s batch for its size (413); sending it in halves",
                kind,
            )
            return Outcome("too_large", detail=detail)
        # Refused for its content: the sender keeps it as a dead letter and says so once.
        refused = _refused_signals(response) if kind == "signals" else ()
        return Outcome("reject", detail=detail, refused=refused, status=status)


def _rejected_spans(response: httpx.Response) -> int:
    """How many spans an OTLP answer (protobuf, or JSON for a ``spans`` body) refused."""
    content_type = response.headers.get("Content-Type", "")
    if not response.content:
        return 0
    try:
        if "protobuf" in content_type:
            result = ExportTraceServiceResponse.FromString(response.content)
            return int(result.partial_success.rejected_spans)
        if "json" in content_type:
            partial = orjson.loads(response.content).get("partialSuccess") or {}
            return int(partial.get("rejectedSpans") or 0)
    except Exception:
        return 0
    return 0


def _refused_signals(response: httpx.Response) -> tuple[tuple[int, str], ...]:
    """The items a ``/v1/signals`` answer lists as failed: (index, the server's reason)."""
    try:
        failed = orjson.loads(response.content).get("failed") or ()
        return tuple(
            (
                int(item["index"]),
                f"{item.get('status', 'failed')}: {item.get('field')}: {item.get('detail')}",
            )
            for item in failed
        )
    except Exception:
        return ()
