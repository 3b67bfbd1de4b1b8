"""REST resources that read what was recorded: reports, traces and exports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any, Literal, TypeVar

from margin.sdk._operations import Resource, Timestamp, flag, iso, operation

__all__ = ["ExportFormat", "ExportKind", "Exports", "Reports", "Traces"]

_R = TypeVar("_R")
_B = TypeVar("_B")
GroupBy = Literal["customer", "agent", "event_name", "model", "provider"]
Window = Literal["hour", "day", "week", "month"]
Sort = Literal["profit", "revenue", "cost", "margin_pct", "signals", "label"]
ExportKind = Literal["costs", "signals", "events", "invoice_lines"]
ExportFormat = Literal["csv", "jsonl", "parquet"]

_SUMMARY = operation("GET", "/v1/reports/summary")
_MARGIN = operation("GET", "/v1/reports/margin")
_PER_OUTCOME = operation("GET", "/v1/reports/cost-per-outcome")
_UNIT_ECONOMICS = operation("GET", "/v1/reports/unit-economics")
_OVERVIEW = operation("GET", "/v1/reports/overview")
_TRACES_POST = operation("POST", "/v1/traces")
_TRACES_LIST = operation("GET", "/v1/traces")
_TRACE = operation("GET", "/v1/traces/{trace_id}")
_EXPORT = operation("GET", "/v1/export")
_HEALTH = operation("GET", "/v1/health")
_DEAD_LETTERS = operation("GET", "/v1/queue/dead-letters")


def _many(values: str | Sequence[str] | None) -> list[str] | None:
    """A repeatable query parameter (``customer=a&customer=b``)."""
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


class Reports(Resource[_R, _B]):
    """``/v1/reports``: cost, revenue and margin aggregates. Without ``from_``/``to`` a
    report covers the server's default window (the last 30 days)."""

    def summary(
        self,
        from_: Timestamp = None,
        to: Timestamp = None,
        group_by: GroupBy = "customer",
        *,
        tz: str | None = None,
        by_currency: bool | None = None,
    ) -> _R:
        """Totals per ``customer``, ``agent``, ``event_name``, ``model`` or ``provider``, in
        the reporting currency (``by_currency=True``: per original currency)."""
        params = {
            "from": iso(from_),
            "to": iso(to),
            "group_by": group_by,
            "tz": tz,
            "by_currency": flag(by_currency),
        }
        return self._json(_SUMMARY.call(params=params))

    def _margin_params(self, **fields: Any) -> dict[str, Any]:
        params = dict(fields)
        params["from"] = iso(params.pop("from_"))
        params["to"] = iso(params["to"])
        for name in ("group_by", "customer", "agent", "event_name"):
            params[name] = _many(params[name])
        params["compare"] = flag(params["compare"])
        params["by_currency"] = flag(params["by_currency"])
        return params

    def margin(
        self,
        from_: Timestamp = None,
        to: Timestamp = None,
        *,
        group_by: str | Sequence[str] | None = None,
        window: Window | None = None,
        tz: str | None = None,
        customer: str | Sequence[str] | None = None,
        agent: str | Sequence[str] | None = None,
        event_name: str | Sequence[str] | None = None,
        top: int | None = None,
        sort: Sort | None = None,
        order: Literal["asc", "desc"] | None = None,
        compare: bool | None = None,
        by_currency: bool | None = None,
    ) -> _R:
        """Revenue, cost, profit and margin per row of ``group_by`` dimensions (and per
        ``window``), with totals; ``compare=True`` adds the previous period."""
        params = self._margin_params(**_locals(locals()))
        return self._json(_MARGIN.call(params=params))

    def margin_csv(
        self,
        from_: Timestamp = None,
        to: Timestamp = None,
        *,
        group_by: str | Sequence[str] | None = None,
        window: Window | None = None,
        tz: str | None = None,
        customer: str | Sequence[str] | None = None,
        agent: str | Sequence[str] | None = None,
        event_name: str | Sequence[str] | None = None,
        top: int | None = None,
        sort: Sort | None = None,
        order: Literal["asc", "desc"] | None = None,
        compare: bool | None = None,
        by_currency: bool | None = None,
    ) -> _B:
        """The margin report as CSV bytes (exact amounts)."""
        params = self._margin_params(**_locals(locals()))
        params["format"] = "csv"
        return self._raw(_MARGIN.call(params=params))

    def cost_per_outcome(
        self,
        event_name: str,
        from_: Timestamp = None,
        to: Timestamp = None,
        *,
        tz: str | None = None,
        customer: str | Sequence[str] | None = None,
        agent: str | Sequence[str] | None = None,
        group_by: Literal["customer", "agent"] | None = None,
        by_currency: bool | None = None,
    ) -> _R:
        """What one outcome (signals of ``event_name``) cost, on average and in total."""
        params = {
            "event_name": event_name,
            "from": iso(from_),
            "to": iso(to),
            "tz": tz,
            "customer": _many(customer),
            "agent": _many(agent),
            "group_by": group_by,
            "by_currency": flag(by_currency),
        }
        return self._json(_PER_OUTCOME.call(params=params))

    def unit_economics(
        self,
        from_: Timestamp = None,
        to: Timestamp = None,
        *,
        tz: str | None = None,
        customer: str | Sequence[str] | None = None,
        by_currency: bool | None = None,
    ) -> _R:
        """Per customer: revenue, cost and profit, each per outcome."""
        params = {
            "from": iso(from_),
            "to": iso(to),
            "tz": tz,
            "customer": _many(customer),
            "by_currency": flag(by_currency),
        }
        return self._json(_UNIT_ECONOMICS.call(params=params))

    def overview(
        self,
        from_: Timestamp = None,
        to: Timestamp = None,
        *,
        tz: str | None = None,
        top: int | None = None,
        by_currency: bool | None = None,
    ) -> _R:
        """The dashboard's overview: totals, daily series and the top customers/agents."""
        params = {
            "from": iso(from_),
            "to": iso(to),
            "tz": tz,
            "top": top,
            "by_currency": flag(by_currency),
        }
        return self._json(_OVERVIEW.call(params=params))


class Traces(Resource[_R, _B]):
    """``/v1/traces``: OTLP traces in, and each trace's spans, costs and signals out."""

    def export(self, request: Mapping[str, Any] | bytes) -> _R:
        """Send an OTLP ``ExportTraceServiceRequest``: a JSON mapping, or protobuf bytes.
        (The SDK's tracing does this in the background; this is for one-off sends.)"""
        if isinstance(request, bytes):
            call = _TRACES_POST.call(content=request, content_type="application/x-protobuf")
        else:
            call = _TRACES_POST.call(json=dict(request))
        return self._json(call)

    def list(
        self,
        *,
        flagged: bool | None = None,
        from_: Timestamp = None,
        to: Timestamp = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> _R:
        """One page of traces; ``flagged=True``: those with several cost-tracing signals."""
        params = {
            "flagged": flag(flagged),
            "from": iso(from_),
            "to": iso(to),
            "limit": limit,
            "cursor": cursor,
        }
        return self._json(_TRACES_LIST.call(params=params))

    def get(self, trace_id: str) -> _R:
        """Fetch one trace by its 32-hex id."""
        return self._json(_TRACE.call({"trace_id": trace_id}))


class Exports(Resource[_R, _B]):
    """``/v1/export``: the raw facts of a period, streamed as CSV, JSON Lines or Parquet."""

    def download(
        self,
        kind: ExportKind,
        start: Timestamp,
        end: Timestamp,
        *,
        format: ExportFormat = "csv",
        sink: IO[bytes] | None = None,
    ) -> _B:
        """The ``kind`` facts with times in ``[start, end)``. With ``sink`` (a binary file)
        the body is written to it as it arrives and ``b""`` is answered; without, the whole
        body is answered."""
        params = {"kind": kind, "start": iso(start), "end": iso(end), "format": format}
        return self._raw(_EXPORT.call(params=params), sink)


def _locals(names: dict[str, Any]) -> dict[str, Any]:
    """A method's arguments as query fields (without ``self``)."""
    return {k: v for k, v in names.items() if k != "self"}


class System(Resource[_R, _B]):
    """The server's state: health (and, in queue mode, the writers' lag) and the queue's
    dead letters (see docs/scaling.md)."""

    def health(self) -> _R:
        """``{"status", "version", "mode", "store"[, "queue"]}``."""
        return self._json(_HEALTH.call())

    def dead_letters(self, *, limit: int | None = None) -> _R:
        """Items and messages the queue's writers could not store, oldest first."""
        return self._json(_DEAD_LETTERS.call(params={"limit": limit}))
