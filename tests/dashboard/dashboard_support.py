"""Helpers of the dashboard tests: the server handle, signing in, waiting, screenshots."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The README's screenshots are rewritten only when asked (``make screenshots``); otherwise
#: the tests still take them, into a scratch directory, so a test run leaves the tree as it was.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("MARGIN_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "margin-screenshots"
)
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SLOW_MS = 90_000
_BIN = Path(sys.executable).parent


def margin_command(*args: str) -> list[str]:
    exe = _BIN / "margin"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "margin.cli", *args]


@dataclass
class Server:
    """A running server and keys of every scope for its demo organization."""

    url: str
    data_dir: Path
    keys: dict[str, str]

    def client(self, scope: str = "admin") -> httpx.Client:
        """An API client sending the key of ``scope`` as a Bearer token."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.keys[scope]}"},
            timeout=30,
        )

    def get(self, path: str, **params: Any) -> Any:
        with self.client() as c:
            r = c.get(path, params=params)
        r.raise_for_status()
        return r.json()


def create_key(data_dir: Path, scope: str) -> str:
    """A new key of ``scope`` from ``margin keys create``, as an operator makes one."""
    out = subprocess.run(
        margin_command("keys", "create", "--scope", scope, "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    found: list[str] = re.findall(rf"mgn_{scope}_\S+", out)
    return found[-1]


def sign_in(page: Any, server: Server, key: str) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(server.url + "/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


@contextmanager
def signed_in(browser: Any, server: Server) -> Iterator[Any]:
    """A desktop-sized page signed in to ``server`` with its admin key; fails the test on any
    script error on the page."""
    context = browser.new_context(viewport=DESKTOP, timezone_id="UTC", locale="en-US")
    # Generous: the machine is shared, and a slow page is not a broken one.
    context.set_default_timeout(SLOW_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(pg, server, server.keys["admin"])
    yield pg
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def wait_ready(page: Any) -> None:
    """Wait until the page's script has settled every section it loads."""
    page.wait_for_selector("body[data-ready='1']", timeout=SLOW_MS)


def assert_fits(page: Any, width: int) -> None:
    """Nothing is clipped at ``width``: the page does not scroll sideways, every nav entry is
    in view (the nav wraps), and a table wider than its card scrolls horizontally."""
    page.set_viewport_size({"width": width, "height": PHONE["height"]})
    page.wait_for_timeout(300)  # let the chart's ResizeObserver redraw
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    rights = page.eval_on_selector_all(
        ".nav a", "(as) => as.map((a) => a.getBoundingClientRect().right)"
    )
    assert rights
    assert max(rights) <= width
    clipped = page.evaluate(
        """[...document.querySelectorAll('.table-wrap')].filter((w) =>
            w.scrollWidth > w.clientWidth && getComputedStyle(w).overflowX !== 'auto').length"""
    )
    assert clipped == 0


def overflowing_tables(page: Any) -> int:
    """How many tables are wider than their card (they scroll: a column is out of sight)."""
    count: int = page.evaluate(
        """[...document.querySelectorAll('.table-wrap')]
            .filter((w) => w.scrollWidth > w.clientWidth + 1).length"""
    )
    return count


def shoot(page: Any, name: str, *, phone: bool = False) -> None:
    """Save a full-page screenshot to ``SCREENSHOTS`` (docs/screenshots/, shown in the README,
    with ``MARGIN_UPDATE_SCREENSHOTS=1``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if phone:
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(300)  # let the chart's ResizeObserver redraw
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if phone:
        page.set_viewport_size(DESKTOP)
