"""``margin archive``: 14 months of facts, the oldest 12 moved to Parquet files; reports of
the other months unchanged, reports of the archived ones answered from the rollups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from margin import cli as margin_cli
from margin._calendar import month_bounds
from margin.store.archive import ArchiveRefused, archivable, archive, fact_archives
from margin.store.db import Database
from margin.store.partitions import PARTITIONED, Month, ensure_partitions, month_partitions
from margin.store.schema import costs, events, fact_keys, invoices, signals
from margin_testing import Api

MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"]
NOW = month_bounds("2026-03")[0] + 86_400_000_000
ARCHIVED = {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
KEPT = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}


def _seed(api: Api) -> None:
    """Per month i (1 … 14): two signals, a cost of i.000000001 USD to acme (one per
    customer), an event; the cost of 2025-06 goes to the default partition's care."""
    for i, month in enumerate(MONTHS, start=1):
        at = f"{month}-15T10:00:00Z"
        items = [
            {"event_name": "email_sent", "customer": c, "timestamp": at, "idempotency_key": k}
            for c, k in (("acme", f"s-{month}-a"), ("globex", f"s-{month}-g"))
        ]
        assert api.post("/v1/signals", json={"items": items}).json()["ingested"] == 2
        cost = {"customer": "acme", "amount": f"{i}.000000001", "currency": "USD"}
        cost |= {"timestamp": at, "idempotency_key": f"c-{month}", "provider": "openai"}
        cost |= {"model": "gpt-4o"}
        assert api.post("/v1/costs", json={"items": [cost]}).json()["ingested"] == 1
        event = {"type": "seat", "customer": "acme", "timestamp": at}
        event |= {"idempotency_key": f"e-{month}"}
        assert api.post("/v1/events", json={"items": [event]}).json()["ingested"] == 1


def _reports(api: Api, period: dict[str, str]) -> list[Any]:
    by_month = {**period, "window": "month", "group_by": "customer"}
    return [
        api.get("/v1/reports/summary", params=period, scope="read").json(),
        api.get("/v1/reports/margin", params=by_month, scope="read").json(),
    ]


def _count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_archived_months_leave_the_store_and_reports_still_answer(
    api: Api, store: Database, tmp_path: Path
) -> None:
    with store.write() as conn:
        # The months of 2025 and 2026 in partitions, but June 2025's rows in the default one.
        ensure_partitions(conn, month_bounds("2025-01")[0], ahead=13)
        conn.exec_driver_sql("DROP TABLE costs_p202506")
    _seed(api)
    before = _reports(api, ARCHIVED), _reports(api, KEPT)
    archived_cost = sum(range(1, 13)) * 10**9 + 12
    assert before[0][0]["totals"] == [{"currency": "USD", "cost": "78.000000012"}]
    assert before[1][0]["totals"] == [{"currency": "USD", "cost": "27.000000002"}]

    plan = archivable(store, "2026-01", NOW)
    assert [(p.table, p.period, p.rows) for p in plan] == [
        (t, m, n) for t, n in (("costs", 1), ("events", 1), ("signals", 2)) for m in MONTHS[:12]
    ]
    assert {p.source for p in plan if p.period == "2025-06"} == {
        "costs_default",
        "events_p202506",
        "signals_p202506",
    }
    out = tmp_path / "archive"
    done = archive(store, "2026-01", out, NOW)
    assert [(p.table, p.period, p.rows) for p in done] == [
        (p.table, p.period, p.rows) for p in plan
    ]
    assert sorted(p.file for p in done if p.table == "costs") == [
        f"costs/{m}.parquet" for m in MONTHS[:12]
    ]
    # The files hold every row of those months, to the nano-unit.
    cost_files = [pq.read_table(out / "costs" / f"{m}.parquet") for m in MONTHS[:12]]
    assert sum(sum(t.column("amount_nanos").to_pylist()) for t in cost_files) == archived_cost
    assert (
        sum(pq.read_metadata(out / "signals" / f"{m}.parquet").num_rows for m in MONTHS[:12]) == 24
    )
    assert _count(store, fact_archives) == 36
    # Gone from the store, partitions and all; kept: the two months after, and every key.
    assert (_count(store, signals), _count(store, costs), _count(store, events)) == (4, 2, 2)
    assert _count(store, fact_keys) == 14 * 4
    with store.read() as conn:
        for table in PARTITIONED:
            assert all(m.period >= "2026-01" for m in month_partitions(conn, table))
    assert archivable(store, "2026-01", NOW) == []

    after = _reports(api, ARCHIVED), _reports(api, KEPT)
    assert after == before
    # Raw facts of those months are in the Parquet files now: a list of them is refused
    # (every such read: test_archived_reads.py).
    assert api.get("/v1/signals", params=ARCHIVED, scope="read").status_code == 409
    # An archived fact's key is still taken: its retry is the same fact.
    retry = {"type": "seat", "customer": "acme", "timestamp": "2025-03-15T10:00:00Z"}
    again = api.post("/v1/events", json={"items": [retry | {"idempotency_key": "e-2025-03"}]})
    assert again.json()["items"][0]["status"] == "duplicate"

    # A later row of an archived month is archived again, to a file of its own.
    late = {"event_name": "email_sent", "customer": "acme", "timestamp": "2025-03-20T00:00:00Z"}
    assert api.post("/v1/signals", json=late | {"idempotency_key": "late"}).status_code == 201
    second = archive(store, "2026-01", out, NOW)
    assert [(p.file, p.rows, p.source) for p in second] == [
        ("signals/2025-03.2.parquet", 1, "signals_default")
    ]


def test_archiving_refuses_sqlite_a_bad_month_and_the_current_month(db: Database) -> None:
    if db.is_sqlite:
        with pytest.raises(ArchiveRefused, match="archiving needs PostgreSQL"):
            archive(db, "2026-01", Path("unused"), NOW)
        return
    with pytest.raises(ArchiveRefused, match="--before: '2026-13' is not a period"):
        archivable(db, "2026-13", NOW)
    with pytest.raises(ArchiveRefused, match="after the current month"):
        archivable(db, "2026-04", NOW)
    assert Month.of(NOW).period == "2026-03"


def test_the_cli_dry_run_lists_the_months_and_changes_nothing(db: Database, tmp_path: Path) -> None:
    margin_cli._mount_features()
    env = {"MARGIN_DATA_DIR": str(tmp_path), "MARGIN_DATABASE_URL": None}
    if not db.is_sqlite:
        env["MARGIN_DATABASE_URL"] = db.url
    runner = CliRunner()
    args = ["archive", "--before", "2000-01", "--dry-run", "--json"]
    result = runner.invoke(margin_cli.app, args, env=env)
    if db.is_sqlite:
        assert result.exit_code == 2
        assert "archiving needs PostgreSQL" in result.output
        return
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _finalized(db: Database, org_id: str, customer_id: str, period: str, as_of: int) -> None:
    start, end = month_bounds(period)
    row = {
        "id": f"inv_{period}_{as_of}",
        "org_id": org_id,
        "customer_id": customer_id,
        "currency": "USD",
        "period": period,
        "period_start": start,
        "period_end": end,
        "status": "finalized",
        "lines": [],
        "total_nanos": 0,
        "cost": {},
        "as_of": as_of,
        "created_at": as_of,
        "updated_at": as_of,
        "finalized_at": as_of,
    }
    with db.write() as conn:
        conn.execute(invoices.insert().values(row))


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_a_month_holding_late_signals_not_billed_yet_is_not_archived(
    api: Api, store: Database
) -> None:
    """A signal stored after its month's invoice was final is billed by the first later
    month's invoice not final before it arrived: until that one is, the signal's month stays."""
    with store.write() as conn:
        ensure_partitions(conn, month_bounds("2025-12")[0], ahead=4)
    api.client.app.state.margin.clock = lambda: NOW  # type: ignore[attr-defined]
    january = month_bounds("2026-01")
    item = {"event_name": "meeting_booked", "customer": "acme", "idempotency_key": "late-1"}
    item["timestamp"] = "2026-01-10T09:00:00Z"
    assert api.post("/v1/signals", json=item).status_code == 201
    with store.read() as conn:
        acme = conn.execute(select(signals.c.customer_id)).scalar_one()
    org = api.tenant.org_id
    _finalized(store, org, acme, "2026-01", january[1])  # final before the signal arrived
    with pytest.raises(ArchiveRefused, match=r"2026-01 hold late signals .* of 2026-02 first"):
        archivable(store, "2026-02", NOW)
    # February was final before it arrived too: March's invoice bills it.
    _finalized(store, org, acme, "2026-02", month_bounds("2026-02")[1])
    with pytest.raises(ArchiveRefused, match=r"finalize the invoices of 2026-03 first"):
        archive(store, "2026-02", Path("unused"), NOW)
    assert _count(store, signals) == 1
    _finalized(store, org, acme, "2026-03", NOW + 1)  # billed there
    plan = archivable(store, "2026-02", NOW)
    assert [(p.table, p.period, p.rows) for p in plan if p.rows] == [("signals", "2026-01", 1)]
