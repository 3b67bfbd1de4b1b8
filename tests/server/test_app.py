"""The application as a whole: its OpenAPI document, health, errors (problem+json with a
correlation id, unexpected ones included, on a connection that stays usable) and the
app-wide refusal of NUL in parameters."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sqlite3
import sys
from pathlib import Path
from subprocess import STDOUT, Popen
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from margin._version import __version__
from margin.server.app import serve_app
from margin_testing import Api, free_port, wait_healthy


def test_openapi_lists_every_resource(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/v1/customers",
        "/v1/agents",
        "/v1/signals",
        "/v1/costs",
        "/v1/events",
        "/v1/traces",
        "/v1/traces/{trace_id}",
        "/v1/prices",
        "/v1/prices/quote",
        "/v1/meters",
        "/v1/plans",
        "/v1/orders",
        "/v1/invoices",
        "/v1/reports/summary",
        "/v1/reports/overview",
    ):
        assert path in paths, path


def test_health_and_unknown_routes(api: Api) -> None:
    assert api.client.get("/healthz").json()["status"] == "ok"
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = api.request("PUT", "/v1/signals")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"


def test_serve_app_builds_from_the_environment_and_freezes_the_heap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `margin serve` runs in each worker: the app from the environment's settings, in a
    # process whose long-lived objects (the price catalog among them) are out of the GC's walk.
    monkeypatch.setenv("MARGIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MARGIN_DATABASE_URL", raising=False)
    before = gc.get_freeze_count()
    try:
        app = serve_app()
        assert gc.get_freeze_count() > before
        with TestClient(app) as client:
            assert client.get("/healthz").json()["status"] == "ok"
        assert (tmp_path / "margin.db").exists()
        app.state.margin.db.dispose()
    finally:
        gc.unfreeze()


def _serve(data_dir: Path, log: Path, database_url: str | None) -> tuple[Popen[bytes], str, str]:
    """``margin serve`` on a free port; its URL and the admin key it printed."""
    env = {k: v for k, v in os.environ.items() if k != "MARGIN_DATABASE_URL"}
    if database_url:
        env["MARGIN_DATABASE_URL"] = database_url
    env["COLUMNS"] = "300"
    port = free_port()
    margin = str(Path(sys.executable).with_name("margin"))
    args = ["serve", "--port", str(port), "--data-dir", str(data_dir)]
    with log.open("wb") as out:
        proc = Popen([margin, *args], stdout=out, stderr=STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, log=log)
    found = re.search(r"API key: (mgn_admin_\S+)", log.read_text())
    assert found, log.read_text()
    return proc, url, found.group(1)


def _break_the_store(store_kind: str, data_dir: Path, database_url: str) -> None:
    """Take a table away from under the running server, as a botched manual change would."""
    statement = "ALTER TABLE customers RENAME TO customers_gone"
    if store_kind == "sqlite":
        with contextlib.closing(sqlite3.connect(data_dir / "margin.db")) as conn:
            conn.execute(statement)
            conn.commit()
        return
    import psycopg

    plain = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(statement)


def test_an_internal_fault_is_a_problem_and_the_connection_stays_usable(
    store_kind: str, empty_url: str, tmp_path: Path
) -> None:
    database_url = empty_url if store_kind == "postgres" else ""
    log = tmp_path / "serve.log"
    proc, url, key = _serve(tmp_path, log, database_url or None)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=url, headers=headers, limits=limits, timeout=30) as client:
            before = client.get("/v1/customers")
            assert before.status_code == 200
            _break_the_store(store_kind, tmp_path, database_url)
            broken = client.get("/v1/customers")
            after = client.get("/v1/agents")
            sockets = {
                r.extensions["network_stream"].get_extra_info("client_addr")
                for r in (before, broken, after)
            }
        assert broken.status_code == 500
        assert broken.headers["content-type"] == "application/problem+json"
        body = broken.json()
        assert body["status"] == 500
        assert body["correlation_id"].startswith("err_")
        assert broken.headers["x-correlation-id"] == body["correlation_id"]
        assert "customers_gone" not in broken.text
        assert "Traceback" not in broken.text
        # The same keep-alive connection answered the next request: nothing was reset.
        assert after.status_code == 200
        assert len(sockets) == 1
    finally:
        proc.terminate()
        proc.wait(20)
    logged = log.read_text()
    line = next(x for x in logged.splitlines() if body["correlation_id"] in x)
    assert "GET /v1/customers" in line
    assert "Traceback" in logged.split(body["correlation_id"], 1)[1]


def test_problems_carry_a_correlation_id(api: Api) -> None:
    r = api.get("/v1/customers/nope")
    assert r.status_code == 404
    assert r.headers["x-correlation-id"] == r.json()["correlation_id"]
    too_big = api.post("/v1/signals", content=b"x", headers={"content-length": str(10**12)})
    assert too_big.status_code == 413
    assert too_big.headers["x-correlation-id"].startswith("err_")


def _operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, item in spec["paths"].items()
        for method in item
        if method in methods
    ]


def test_nul_in_any_query_parameter_is_refused_on_every_route(api: Api) -> None:
    operations = _operations(api.client.get("/openapi.json").json())
    assert len(operations) > 20
    for method, path in operations:
        for query, field in (("probe=a%00b", "probe"), ("%00x=1", "\\u0000x")):
            r = api.request(method, f"{path}?{query}")
            assert r.status_code == 422, (method, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["field"] == field, (method, path)


def test_nul_in_a_path_parameter_names_it(api: Api) -> None:
    for path, field in (
        ("/v1/customers/cus%00x", "party_id"),
        ("/v1/traces/ab%00cd", "trace_id"),
        ("/v1/customers/external/a%00", "external_id"),
    ):
        r = api.get(path)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == field
    listed = api.get("/v1/customers", params={"external_id": "c\x00"})
    assert listed.status_code == 422
    assert listed.json()["field"] == "external_id"
    assert "NUL" in listed.json()["detail"]


def test_the_openapi_document_describes_errors_as_problems(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    problem = spec["components"]["schemas"]["Problem"]
    assert "correlation_id" in problem["properties"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            # Paygentic's SDK types an error only as application/json: its routes answer
            # their own errors so, and are documented so (docs/migrating.md).
            vendor = ["application/json"] * path.startswith("/compat/paygentic/")
            for code in ("4XX", "500", "422"):
                if code not in operation["responses"]:
                    continue
                content = operation["responses"][code]["content"]
                expected = {"application/problem+json", *(vendor if code != "500" else [])}
                assert set(content) == expected, (method, path, code)


def test_the_openapi_document_describes_every_answer(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    undescribed = [
        (method, path, code, media_type)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        for code, answer in operation["responses"].items()
        if code.startswith("2") and code != "204"
        for media_type, body in (answer.get("content") or {"(none)": {}}).items()
        if not body.get("schema")
    ]
    assert undescribed == []
    # Two models of one name would be published as module paths (``margin__compat__…``).
    assert [name for name in spec["components"]["schemas"] if "__" in name] == []
    health = api.client.get("/v1/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "version": __version__,
        "mode": "direct",
        "store": "ok",
    }
    assert set(spec["components"]["schemas"]["Health"]["properties"]) == {
        "status",
        "version",
        "mode",
        "store",
        "queue",
    }
