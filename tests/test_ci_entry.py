"""The CI entry point is a script CI runs on a clean clone: it must at least parse, and it
must end by running ``make test``."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_run_parses_and_ends_with_make_test() -> None:
    script = ROOT / ".ci" / "run"
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    lines = [line for line in script.read_text().splitlines() if line.strip()]
    assert lines[-1] == "make test"
    assert script.stat().st_mode & 0o111, ".ci/run must be executable"
