"""Which key the SDK uses from the environment: ``MARGIN_INGEST_KEY`` for tracing's
delivery, ``MARGIN_API_KEY`` for reads (the REST client and the CLI), so that an agent's
ingest key and an operator's read key can sit in one shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector import Collector

import margin
from margin.sdk._http import resolve_api_key, resolve_ingest_key


def test_the_ingest_key_wins_for_delivery_and_the_api_key_for_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARGIN_API_KEY", "mgn_read_r")
    monkeypatch.setenv("MARGIN_INGEST_KEY", "mgn_ingest_i")
    assert resolve_ingest_key(None) == "mgn_ingest_i"
    assert resolve_api_key(None) == "mgn_read_r"
    assert resolve_ingest_key("given") == "given"
    monkeypatch.delenv("MARGIN_INGEST_KEY")
    assert resolve_ingest_key(None) == "mgn_read_r"  # as before: one key for everything
    monkeypatch.delenv("MARGIN_API_KEY")
    assert resolve_ingest_key(None) is None


@pytest.mark.usefixtures("otel_reset")
def test_configure_reads_the_ingest_key(
    monkeypatch: pytest.MonkeyPatch, collector: Collector, tmp_path: Path
) -> None:
    assert not margin.configure(base_url=collector.url, spool_dir=str(tmp_path))
    monkeypatch.setenv("MARGIN_INGEST_KEY", "mgn_ingest_i")
    assert margin.configure(base_url=collector.url, spool_dir=str(tmp_path))
