"""Reads of raw facts over archived months: after ``margin archive`` moved 2025 to Parquet
files, every read needing those rows (lists, exports, meters, invoices, re-pricing; API and
CLI) is refused with a 409 naming the field and the months, changing nothing. The same
reads over the kept months answer exactly as before, and reports of the archived months
still answer from the rollups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from billing_support import generate, setup_plan
from margin import cli as margin_cli
from margin._calendar import month_bounds
from margin.store.archive import archive
from margin.store.archived import ArchivedRange, archived_months, refuse_archived
from margin.store.db import Database
from margin.store.partitions import ensure_partitions
from margin.store.schema import cost_repricings, invoices
from margin_testing import Api

MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"]
NOW = month_bounds("2026-03")[0] + 86_400_000_000
ARCHIVED = {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
KEPT = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
EXPORT_KEPT = {"start": "2026-01-01", "end": "2026-03-01"}
PAID_SIGNALS = "/compat/paid/api/v2/signals/"


def _detail(field: str, months: str) -> str:
    return (
        f"{field}: the raw facts of {months} are archived (margin archive moved them to "
        "Parquet files, listed in fact_archives); read those months from the files, or ask "
        "for a range after them (reports of cost and signal counts still answer from the "
        "rollups)"
    )


def _seed(api: Api, store: Database) -> None:
    """Acme orders sdr-pro (a 300 fee, 0.10 per email) from 2025-01; a ``seats`` meter counts
    seat events. Per month i (1 … 14): two cost-tracing emails in one trace (acme's by sdr,
    globex's), a cost of i.000000001 USD to acme, a seat event of acme."""
    with store.write() as conn:
        ensure_partitions(conn, month_bounds("2025-01")[0], ahead=13)
    setup_plan(api, starts_at="2025-01-01")
    meter = {"key": "seats", "event_type": "seat", "aggregation": "count"}
    assert api.post("/v1/meters", json=meter).status_code == 201
    for i, month in enumerate(MONTHS, start=1):
        at = f"{month}-15T10:00:00Z"
        trace = {"trace_id": f"{i:032x}", "cost_tracing": True}
        items = [
            {"event_name": "email_sent", "timestamp": at, **trace, **who}
            for who in (
                {"customer": "acme", "agent": "sdr", "idempotency_key": f"s-{month}-a"},
                {"customer": "globex", "idempotency_key": f"s-{month}-g"},
            )
        ]
        assert api.post("/v1/signals", json={"items": items}).json()["ingested"] == 2
        cost = {"customer": "acme", "amount": f"{i}.000000001", "currency": "USD"}
        cost |= {"timestamp": at, "idempotency_key": f"c-{month}", "provider": "openai"}
        cost |= {"model": "gpt-4o"}
        assert api.post("/v1/costs", json={"items": [cost]}).json()["ingested"] == 1
        event = {"type": "seat", "customer": "acme", "timestamp": at}
        event |= {"idempotency_key": f"e-{month}"}
        assert api.post("/v1/events", json={"items": [event]}).json()["ingested"] == 1


def _reads(api: Api) -> list[Any]:
    """Every raw read over the kept months, as answered."""
    read = {"scope": "read"}
    return [
        api.get("/v1/signals", params=KEPT, **read).json(),
        api.get("/v1/costs", params=KEPT, **read).json(),
        api.get("/v1/costs", params={"from": KEPT["from"]}, **read).json(),
        *(
            api.get("/v1/export", params={"kind": kind, **EXPORT_KEPT}, **read).text
            for kind in ("signals", "costs", "events")
        ),
        api.get("/v1/meters/seats/query", params=KEPT, **read).json(),
        api.get("/v1/traces", params={"flagged": "true", **KEPT}, **read).json(),
        api.get(PAID_SIGNALS, params={"createdAtFrom": KEPT["from"]}, **read).json(),
    ]


def _reports(api: Api, period: dict[str, str]) -> list[Any]:
    by_month = {**period, "window": "month", "group_by": "customer"}
    return [
        api.get("/v1/reports/summary", params=period, scope="read").json(),
        api.get("/v1/reports/margin", params=by_month, scope="read").json(),
    ]


def _refused(response: Any, field: str, months: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["title"]) == (409, "Conflict")
    assert (problem["field"], problem["detail"]) == (field, _detail(field, months))


def _cli(store: Database, tmp_path: Path, *args: str) -> Any:
    margin_cli._mount_features()
    env = {"MARGIN_DATA_DIR": str(tmp_path), "MARGIN_DATABASE_URL": store.url}
    return CliRunner().invoke(margin_cli.app, list(args), env=env)


def _count(store: Database, table: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_raw_reads_reaching_archived_months_are_refused_naming_the_field_and_months(
    api: Api, store: Database, tmp_path: Path
) -> None:
    _seed(api, store)
    archive(store, "2026-01", tmp_path / "archive", NOW)
    read = {"scope": "read"}

    # Lists: the bound given names the field; [from, to) reaches only the months it covers.
    one_month = {"from": "2025-03-01", "to": "2025-04-01"}
    _refused(api.get("/v1/signals", params=one_month, **read), "from", "2025-03")
    _refused(api.get("/v1/costs", params={"to": "2025-06-01"}, **read), "to", "2025-01 … 2025-05")
    since = {"from": "2025-12-31T23:00:00Z"}
    _refused(api.get("/v1/costs", params=since, **read), "from", "2025-12")
    flagged = {"flagged": "true", "from": "2025-06-01"}
    _refused(api.get("/v1/traces", params=flagged, **read), "from", "2025-06 … 2025-12")
    paid = {"createdAtFrom": "2025-02-01T00:00:00Z", "createdAtTo": "2025-03-01T00:00:00Z"}
    _refused(api.get(PAID_SIGNALS, params=paid, **read), "createdAtFrom", "2025-02")
    # Exports, refused before the first byte.
    for kind in ("signals", "costs", "events"):
        export = {"kind": kind, "start": "2025-12-01", "end": "2026-02-01"}
        _refused(api.get("/v1/export", params=export, **read), "start", "2025-12")
    # Meters read raw events.
    seats = {"from": "2025-11-01", "to": "2026-01-01"}
    _refused(api.get("/v1/meters/seats/query", params=seats, **read), "from", "2025-11 … 2025-12")
    # Invoices count signals exactly: none is drafted.
    _refused(api.post("/v1/invoices/generate", json={"period": "2025-05"}), "period", "2025-05")
    assert _count(store, invoices) == 0

    # The CLI prints the same line and exits 2, re-pricing, drafting, exporting nothing.
    amounts = api.get("/v1/costs", **read).json()
    reprice = ["costs", "reprice", "--from", "2025-02-01", "--to", "2026-02-01", "--all", "--yes"]
    for args, line in (
        (reprice, _detail("from", "2025-02 … 2025-12")),
        (["invoices", "generate", "--period", "2025-05"], _detail("period", "2025-05")),
        (["export", "costs", "--start", "2025-06-01", "--end", "2025-07-01"], None),
    ):
        result = _cli(store, tmp_path, *args)
        assert result.exit_code == 2, result.output
        expected = line or _detail("start", "2025-06")
        assert f"error: {expected}" in result.stderr.splitlines(), result.stderr
        assert result.stdout == ""
    assert (_count(store, cost_repricings), _count(store, invoices)) == (0, 0)
    assert api.get("/v1/costs", **read).json() == amounts


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_reads_of_kept_months_answer_as_before_and_reports_of_archived_ones_from_rollups(
    api: Api, store: Database, tmp_path: Path
) -> None:
    _seed(api, store)
    before, reports = _reads(api), (_reports(api, ARCHIVED), _reports(api, KEPT))
    archive(store, "2026-01", tmp_path / "archive", NOW)

    after = _reads(api)
    assert after == before
    signals_kept, costs_kept, costs_since, *exports, seats, traces, paid = after
    assert len(signals_kept["data"]) == 4
    assert [c["amount"] for c in costs_kept["data"]] == ["13.000000001", "14.000000001"]
    assert costs_since == costs_kept
    assert [len(text.splitlines()) for text in exports] == [5, 3, 3]  # a header, then rows
    assert (seats["value"], seats["events"]) == ("2", 2)
    assert [t["trace_id"] for t in traces["data"]] == [f"{13:032x}", f"{14:032x}"]
    assert len(paid["data"]) == 4
    # A range ending where the archived months begin reaches none of them.
    empty = api.get("/v1/signals", params={"to": "2025-01-01"}, scope="read")
    assert (empty.status_code, empty.json()["data"]) == (200, [])
    # With neither bound a list pages through what the store holds.
    assert len(api.get("/v1/signals", scope="read").json()["data"]) == 4

    # Invoices of kept months: the fee and acme's one email, exactly.
    assert [i["total"] for i in generate(api, "2026-01")] == ["300.1"]
    assert [i["total"] for i in generate(api, "2026-02")] == ["300.1"]
    # Re-pricing kept months answers (nothing to change: every cost was provided).
    kept = ["--from", "2026-01-01", "--to", "2026-03-01", "--all", "--dry-run", "--json"]
    result = _cli(store, tmp_path, "costs", "reprice", *kept)
    assert result.exit_code == 0, result.output
    assert '"repriced": 0' in result.stdout

    # Reports of the archived months answer from the rollups, as before.
    assert (_reports(api, ARCHIVED), _reports(api, KEPT)) == reports
    summary = reports[0][0]
    assert summary["totals"] == [{"currency": "USD", "cost": "78.000000012"}]
    assert sum(row["signals"] for row in summary["rows"]) == 24


def test_a_store_never_archived_refuses_nothing(db: Database) -> None:
    with db.read() as conn:
        assert archived_months(conn, None, None) == []
        refuse_archived(conn, None, None, "from")  # SQLite never archives: nothing found


def test_the_refusal_names_the_field_and_the_months() -> None:
    refusal = ArchivedRange("period", ["2025-05"])
    assert (refusal.status, refusal.field, refusal.months) == (409, "period", ["2025-05"])
    assert refusal.detail == _detail("period", "2025-05")
    assert ArchivedRange("to", ["2025-01", "2025-02", "2025-03"]).detail == _detail(
        "to", "2025-01 … 2025-03"
    )
