"""The application as a whole: its OpenAPI document, health, and errors on unknown routes."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from margin.server.app import serve_app
from margin_testing import Api


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
