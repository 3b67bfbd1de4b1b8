"""The two install paths, from the built artifacts: ``pip install margin`` (the SDK) and
``pip install 'margin[server]'``.

The wheel and sdist are built from this tree; the wheel is installed into a fresh venv
without extras. There, ``import margin`` must work and pull in no server dependency, the SDK
must deliver to a real server, and the ``margin`` command must say which extra it needs.
Then the ``server`` extra is installed and ``margin serve`` must answer. pip's cache and
this machine's package index settings are reused; nothing else is assumed of the network.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from margin_testing import free_port, wait_healthy

if TYPE_CHECKING:  # the fixture's type; conftest modules are not importable by name here
    from conftest import LiveServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Top-level modules of the server extra; the SDK must import none of them. (``rich`` is not
#: checked: httpx imports it for its own command line whenever it is installed.)
SERVER_MODULES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "typer",
    "pydantic",
    "genai_prices",
    "psycopg",
)


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, env=env
    )


def _build(out: Path) -> tuple[Path, Path]:
    built = _run(BIN / "hatchling", "build", "-d", out)
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("margin-*.whl")
    (sdist,) = out.glob("margin-*.tar.gz")
    return wheel, sdist


def _pip_install(venv: Path, *requirements: str) -> None:
    # The test venv's pip installs into the fresh venv (`--python`): no pip bootstrap there.
    done = _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        venv / "bin" / "python",
        "install",
        "-q",
        "--no-compile",  # bytecode is written for what the test imports, not every module
        *requirements,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _sdk_script(server: LiveServer, spool: Path) -> str:
    return textwrap.dedent(
        f"""
        import sys
        import margin

        assert margin.configure(api_key={server.keys["ingest"]!r}, base_url={server.url!r},
                                spool_dir={str(spool)!r}, export_interval=0.05)
        with margin.trace("acme", "sdr"):
            margin.signal("meeting_booked", data={{"from": "wheel"}})
        assert margin.flush(timeout=60), margin.delivery_stats()
        margin.shutdown()
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({SERVER_MODULES!r}))
        print("server modules:", loaded)
        """
    )


def test_sdk_only_install_then_the_server_extra(live_server: LiveServer, tmp_path: Path) -> None:
    wheel, sdist = _build(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for packaged in (
        "margin/__init__.py",
        "margin/dashboard/static/app.js",
        "margin/dashboard/templates/login.html",
        "margin/store/migrations/env.py",
        "margin/store/migrations/script.py.mako",
    ):
        assert packaged in names, packaged
    with tarfile.open(sdist) as tf:
        members = {m.split("/", 1)[1] for m in tf.getnames() if "/" in m}
    assert {"pyproject.toml", "LICENSE", "README.md", "src/margin/__init__.py"} <= members

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", venv).returncode == 0
    _pip_install(venv, str(wheel))
    python, command = venv / "bin" / "python", venv / "bin" / "margin"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}

    for module in SERVER_MODULES:  # the SDK install brought none of them
        found = _run(python, "-c", f"import importlib.util as u; print(u.find_spec({module!r}))")
        assert found.stdout.strip() == "None", module
    sdk = _run(python, "-c", _sdk_script(live_server, tmp_path / "spool"), env=env)
    assert sdk.returncode == 0, sdk.stderr
    assert "server modules: []" in sdk.stdout
    with httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {live_server.keys['read']}"},
        timeout=30,
    ) as client:
        stored = client.get("/v1/signals", params={"event_name": "meeting_booked"}).json()
    assert [s["data"] for s in stored["data"]] == [{"from": "wheel"}]

    explained = _run(command, "serve", env=env)
    assert explained.returncode == 1
    assert "pip install 'margin[server]'" in explained.stderr
    assert "Traceback" not in explained.stderr
    assert _run(command, "version", env=env).stdout.strip() == wheel.name.split("-")[1]

    _pip_install(venv, f"{wheel}[server]")
    sdk = _run(python, "-c", _sdk_script(live_server, tmp_path / "spool2"), env=env)
    assert sdk.returncode == 0, sdk.stderr
    assert "server modules: []" in sdk.stdout  # installed now, and still not imported
    port = free_port()
    data_dir = tmp_path / "data"
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [command, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**env, "COLUMNS": "200"},
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", serve, log=tmp_path / "serve.log")
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.json()["status"] == "ok"
        docs = httpx.get(f"http://127.0.0.1:{port}/docs/assets/swagger-ui-bundle.js", timeout=10)
        assert docs.status_code == 200
    finally:
        serve.terminate()
        serve.wait(20)
        log.close()
    assert (data_dir / "margin.db").exists()
