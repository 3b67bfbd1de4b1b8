"""A real ``margin serve --demo`` on 127.0.0.1 and a headless Chromium to drive it.

Browser tests skip when Debian's Chromium is missing, unless ``MARGIN_REQUIRE_BROWSER=1``
(then they fail): a dashboard nobody opened in a browser is not tested.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    create_key,
    margin_command,
    signed_in,
)

from margin_testing import free_port, wait_healthy


def _serve(data_dir: Path, *, demo: bool) -> Iterator[Server]:
    """``margin serve`` (``--demo`` or a fresh install) as a subprocess, the way a user
    starts it; yields once it answers, with keys of every scope."""
    port = free_port()
    log = (data_dir / "serve.log").open("w+")
    proc = subprocess.Popen(
        margin_command(
            "serve",
            *(["--demo"] if demo else []),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "400", "NO_COLOR": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log=data_dir / "serve.log")
        log.seek(0)
        found = re.search(r"API key: (mgn_admin_\S+)", log.read())
        assert found, "margin serve printed no 'API key: mgn_admin_…' line"
        keys = {
            "admin": found.group(1),
            "read": create_key(data_dir, "read"),
            "ingest": create_key(data_dir, "ingest"),
        }
        yield Server(url=url, data_dir=data_dir, keys=keys)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``margin serve --demo``: the demo organization with its data."""
    yield from _serve(tmp_path_factory.mktemp("margin-data"), demo=True)


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``margin serve`` on an empty data directory: a first-day install, no data yet."""
    yield from _serve(tmp_path_factory.mktemp("margin-fresh"), demo=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium, driven by Playwright: one per test process, as the browser
    tests run after all others (``pytest_collection_modifyitems``)."""
    if not CHROMIUM.exists():
        if os.environ.get("MARGIN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MARGIN_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A desktop-sized page signed in with the admin key; fails on any script error."""
    with signed_in(browser, server) as pg:
        yield pg
