"""``GET /v1/export``: the raw facts of a period as CSV, JSON Lines or Parquet, streamed.

Everything that can be wrong with the request is checked before the first byte is sent
(an error past that point could only cut the stream). The body is produced chunk by chunk
from keyset-paged reads (``margin.reports.export``), so memory does not grow with the
period.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from margin.reports.export import COLUMNS, ExportKind, export_chunks
from margin.reports.export_formats import (
    MEDIA_TYPES,
    ExportFormat,
    ParquetUnavailable,
    encode,
    require_parquet,
)
from margin.server.auth import require
from margin.server.exact_json import ExactJsonRoute
from margin.server.params import time_param
from margin.server.problems import Problem
from margin.server.state import AppState
from margin.store.keys import Principal

__all__ = ["router"]

router = APIRouter(tags=["export"], route_class=ExactJsonRoute)

Read = Annotated[Principal, Depends(require("read"))]

_FILE = {"type": "string", "format": "binary"}
_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, streamed.",
        "content": {media: {"schema": _FILE} for media in MEDIA_TYPES.values()},
    }
}


@router.get(
    "/v1/export",
    summary="Export the raw facts of a period",
    response_class=StreamingResponse,
    responses=_CONTENT,
)
def export(
    request: Request,
    principal: Read,
    kind: Annotated[ExportKind, Query(description="What to export.")],
    start: Annotated[str, Query(description="Date or RFC 3339 time (inclusive).")],
    end: Annotated[str, Query(description="Date or RFC 3339 time (exclusive).")],
    format: Annotated[ExportFormat, Query(description="The file format.")] = "csv",
) -> StreamingResponse:
    """Costs, signals and events whose time lies in ``[start, end)``, and the lines of the
    invoices whose period starts in it, oldest first. Amounts are exact decimal strings
    beside their currency, times RFC 3339 UTC. Parquet needs the server's ``export`` extra
    (pyarrow); without it the answer is 501."""
    lo, hi = time_param(start, "start"), time_param(end, "end")
    if hi <= lo:
        raise Problem(422, "'end' must be after 'start'", field="end")
    if format == "parquet":
        try:
            require_parquet()
        except ParquetUnavailable as exc:
            raise Problem(501, str(exc), field="format") from None
    db = AppState.of(request).db
    chunks = export_chunks(db, principal.org_id, kind, lo, hi)
    name = f"margin-{kind}-{start[:10]}-{end[:10]}.{format}"
    return StreamingResponse(
        encode(format, COLUMNS[kind], chunks),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
