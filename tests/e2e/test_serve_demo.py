"""``margin serve --demo`` (what ``make run`` starts): a fresh store gets demo data and a key
that works against the reports API; a second start prints a working key and seeds nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from margin_testing import free_port, wait_healthy

pytestmark = pytest.mark.slow


def _serve(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MARGIN_DATABASE_URL"}
    env["COLUMNS"] = "300"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("margin")),
            "serve",
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if not line or line.startswith("Dashboard:"):
            break
    out = "".join(lines)
    key = re.search(r"API key: (mgn_admin_\S+)", out)
    assert key, out
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return proc, key.group(1), out


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(20)
    assert proc.stdout is not None
    proc.stdout.close()


def test_demo_server_prints_a_key_that_reads_demo_data(tmp_path: Path) -> None:
    port = free_port()
    proc, key, out = _serve(tmp_path, port)
    try:
        assert f"http://127.0.0.1:{port}" in out
        assert "Demo data:" in out
        headers = {"Authorization": f"Bearer {key}"}
        summary = httpx.get(
            f"http://127.0.0.1:{port}/v1/reports/summary", headers=headers, timeout=30
        ).json()
        labels = {g["label"] for g in summary["rows"]}
        assert labels == {"Acme Corp", "Globex", "Initech", "Umbrella Health"}
        for group in summary["rows"]:
            assert Decimal(group["cost"]) > 0
            assert group["unpriced"] == 0
            billed = group["label"] != "Umbrella Health"
            assert (group["revenue"] is not None) == billed, group
        dashboard = httpx.get(f"http://127.0.0.1:{port}/", timeout=10, follow_redirects=False)
        assert dashboard.status_code in (302, 303, 307)
    finally:
        _stop(proc)
    proc, again, out = _serve(tmp_path, port)
    try:
        assert again == key
        assert "Demo data:" not in out
        ok = httpx.get(
            f"http://127.0.0.1:{port}/v1/customers",
            headers={"Authorization": f"Bearer {again}"},
            timeout=10,
        )
        assert len(ok.json()["data"]) == 4
    finally:
        _stop(proc)
