"""``margin serve`` as a script starts it: the line it prints last ("Dashboard: …") means a
request sent at once is answered, with one process or several; a restart says how to get an
admin key; an address another server holds is refused in one line before anything is
created."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from margin_testing import free_port

MARGIN = str(Path(sys.executable).with_name("margin"))
ENV = {"PATH": str(Path(sys.executable).parent), "COLUMNS": "300"}


@contextmanager
def serving(*args: str) -> Iterator[list[str]]:
    """``margin serve ARGS`` running, and the lines it printed up to its "Dashboard:" line."""
    proc = subprocess.Popen(
        [MARGIN, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Dashboard:"):
                break
        yield lines
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stdout.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_request_sent_when_the_last_line_is_printed_is_answered(
    tmp_path: Path, workers: int
) -> None:
    port = free_port()
    args = ["--port", str(port), "--workers", str(workers), "--data-dir", str(tmp_path)]
    with serving(*args) as lines:
        assert lines[-1] == (
            f"Dashboard: http://127.0.0.1:{port}/   API docs: http://127.0.0.1:{port}/docs\n"
        ), lines
        assert f"listening on http://127.0.0.1:{port}" in lines[-2]
        # Once, no retry: before, the line came before the socket was bound, and this was
        # refused (ConnectError).
        health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=60)
        assert health.status_code == 200
        assert health.json()["store"] == "ok"


def test_a_restart_says_how_to_get_an_admin_key(tmp_path: Path) -> None:
    for command in (["db", "upgrade"], ["orgs", "create", "acme"]):  # not a first start
        subprocess.run([MARGIN, *command, "--data-dir", str(tmp_path)], env=ENV, check=True)
    with serving("--port", str(free_port()), "--data-dir", str(tmp_path)) as lines:
        out = "".join(lines)
    assert "mgn_admin_" not in out
    assert f"margin keys create --scope admin --data-dir {tmp_path}" in out


def test_an_address_another_server_holds_is_refused_before_any_work(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [MARGIN, "serve", "--port", str(port), "--data-dir", str(tmp_path / "store")],
            capture_output=True,
            text=True,
            timeout=60,
            env=ENV,
        )
    assert result.returncode == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert "listening" not in result.stdout
    assert not (tmp_path / "store").exists()  # no store created, nothing migrated
