"""Exports on both stores: ``GET /v1/export`` and ``margin export`` give the exact rows and
amounts in CSV, JSON Lines and Parquet; chunks page by (time, id) without losing or
repeating a row; bad input is a 422 naming the parameter."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import typer
from typer.testing import CliRunner

from billing_support import generate, outcome, setup_plan
from margin.cli_export import export
from margin.reports.export import COLUMNS, export_chunks
from margin.store.db import Database
from margin_testing import Api

MONTH = {"start": "2026-10-01", "end": "2026-11-01"}
AT = "2026-10-05T10:00:00Z"


def _seed(api: Api) -> None:
    setup_plan(api)
    outcome(api, "meeting_booked", "2026-10-03T09:00:00Z", cost="1.000000001")
    outcome(api, "email_sent", "2026-10-04T09:00:00Z")
    # Three costs at the same microsecond: the keyset must order them by id.
    items = [
        {"customer": "acme", "amount": amount, "currency": "USD", "timestamp": AT}
        for amount in ("0.000000001", "12345678.9", "0.5")
    ]
    items.append(
        {"customer": "acme", "amount": "9", "currency": "EUR", "timestamp": "2026-11-01T00:00:00Z"}
    )
    answer = api.post("/v1/costs", json={"items": items}, scope="ingest")
    assert answer.json()["ingested"] == 4, answer.json()
    events = [
        {"type": "llm", "customer": "acme", "timestamp": AT, "data": {"tokens": 7, "m": "a,b"}}
    ]
    assert api.post("/v1/events", json={"items": events}, scope="ingest").status_code == 200
    generate(api, "2026-10")


def _get(api: Api, **params: str) -> Any:
    return api.get("/v1/export", params={**MONTH, **params}, scope="read")


def _csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_every_kind_in_every_format_round_trips(api: Api) -> None:
    _seed(api)
    by_format: dict[str, list[dict[str, Any]]] = {}
    for fmt in ("csv", "jsonl", "parquet"):
        answer = _get(api, kind="costs", format=fmt)
        assert answer.status_code == 200, answer.text
        if fmt == "csv":
            assert answer.headers["content-type"] == "text/csv; charset=utf-8"
            by_format[fmt] = _csv_rows(answer.content)
        elif fmt == "jsonl":
            assert answer.headers["content-type"] == "application/jsonl"
            by_format[fmt] = [orjson.loads(line) for line in answer.content.splitlines()]
        else:
            table = pq.read_table(io.BytesIO(answer.content))
            assert table.column_names == [c.name for c in COLUMNS["costs"]]
            by_format[fmt] = table.to_pylist()
        assert (
            'filename="margin-costs-2026-10-01-2026-11-01.' in answer.headers["content-disposition"]
        )
    for rows in by_format.values():
        # Oldest first; the November cost (at the end bound, exclusive) is left out.
        assert [(r["ts"], r["amount"], r["currency"]) for r in rows][:1] == [
            ("2026-10-03T09:00:00Z", "1.000000001", "USD")
        ]
        assert sorted(r["amount"] for r in rows[1:]) == ["0.000000001", "0.5", "12345678.9"]
        assert [r["id"] for r in rows[1:]] == sorted(r["id"] for r in rows[1:])
        assert {r["customer"] for r in rows} == {"acme"}
        assert rows[0]["agent"] == "sdr"
        assert rows[0]["priced_by"] == "provided"
    assert [r["id"] for r in by_format["csv"]] == [r["id"] for r in by_format["parquet"]]
    assert by_format["csv"][1]["usage"] == ""  # absent: an empty field
    assert by_format["jsonl"][1]["usage"] is None


def test_signals_events_and_invoice_lines(api: Api) -> None:
    _seed(api)
    signals = _csv_rows(_get(api, kind="signals").content)
    assert [(s["event_name"], s["cost_tracing"], s["agent"]) for s in signals] == [
        ("meeting_booked", "true", "sdr"),
        ("email_sent", "true", "sdr"),
    ]
    events = [orjson.loads(x) for x in _get(api, kind="events", format="jsonl").content.split()]
    assert [(e["type"], e["data"], e["customer"]) for e in events] == [
        ("llm", {"tokens": 7, "m": "a,b"}, "acme")
    ]
    assert _csv_rows(_get(api, kind="events").content)[0]["data"] == '{"m":"a,b","tokens":7}'
    table = pq.read_table(io.BytesIO(_get(api, kind="invoice_lines", format="parquet").content))
    lines = table.to_pylist()
    assert [(x["line"], x["type"], x["amount"], x["status"]) for x in lines] == [
        (1, "fee", "300", "draft"),
        (2, "outcome", "0.1", "draft"),
        (3, "outcome", "25", "draft"),
    ]
    assert [x["cost"] for x in lines] == ["0", "0", "1.000000001"]
    assert {(x["customer"], x["currency"], x["period"]) for x in lines} == {
        ("acme", "USD", "2026-10")
    }
    empty = _get(api, kind="invoice_lines", start="2026-11-01", end="2026-12-01")
    assert empty.content.decode().splitlines() == [
        ",".join(c.name for c in COLUMNS["invoice_lines"])
    ]


def test_chunks_page_by_time_then_id(api: Api, db: Database) -> None:
    _seed(api)
    whole = [r for chunk in export_chunks(db, api.tenant.org_id, "costs", 0, 2**62) for r in chunk]
    assert len(whole) == 5
    chunks = list(export_chunks(db, api.tenant.org_id, "costs", 0, 2**62, chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [r["id"] for c in chunks for r in c] == [r["id"] for r in whole]
    lines = list(export_chunks(db, api.tenant.org_id, "invoice_lines", 0, 2**62, chunk_rows=1))
    assert [len(c) for c in lines] == [3]


BAD = [
    ({"kind": "spans"}, "kind"),
    ({"kind": "costs", "format": "xlsx"}, "format"),
    ({"kind": "costs", "start": "yesterday"}, "start"),
    ({"kind": "costs", "end": "2026-13-01"}, "end"),
    ({"kind": "costs", "end": "2026-10-01"}, "end"),
    ({"kind": "costs", "start": "2026-10-01T00:00:00"}, "start"),
]


def test_bad_input_names_the_field(api: Api) -> None:
    for params, field in BAD:
        answer = _get(api, **params)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == field
    missing = api.get("/v1/export", params={"kind": "costs", "end": "2026-11-01"}, scope="read")
    assert (missing.status_code, missing.json()["field"]) == (422, "start")
    refused = api.get("/v1/export", params={"kind": "costs", **MONTH}, scope="ingest")
    assert refused.status_code == 403


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(export)
    app.command("noop")(lambda: None)  # two commands: ``export`` stays a sub-command
    return app


def test_cli_writes_a_file_or_stdout(api: Api, db: Database, tmp_path: Path) -> None:
    _seed(api)
    env = {"MARGIN_DATABASE_URL": db.url}
    runner = CliRunner()
    target = tmp_path / "costs.parquet"
    args = ["export", "costs", "--from", "2026-10-01", "--to", "2026-11-01"]
    done = runner.invoke(_cli(), [*args, "-f", "parquet", "-o", str(target)], env=env)
    assert done.exit_code == 0, done.output
    rows = pq.read_table(target).to_pylist()
    assert [r["amount"] for r in rows][:1] == ["1.000000001"]
    assert len(rows) == 4
    assert not target.with_name("costs.parquet.part").exists()
    jsonl = runner.invoke(_cli(), [*args, "--format", "jsonl"], env=env)
    assert jsonl.exit_code == 0, jsonl.output
    api_body = _get(api, kind="costs", format="jsonl").content
    assert jsonl.stdout_bytes == api_body
    bad = runner.invoke(_cli(), ["export", "costs", "--start", "2026-10-01", "--end", "x"], env=env)
    assert bad.exit_code == 2
    assert "--end: 'x' is not an RFC 3339 time or a date" in bad.output
    kind = runner.invoke(_cli(), ["export", "spans", *args[2:]], env=env)
    assert kind.exit_code == 2
    assert "KIND must be one of costs, signals, events, invoice_lines" in kind.output
