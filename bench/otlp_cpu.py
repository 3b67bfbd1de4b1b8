"""Process CPU time a 1,000-span OTLP export costs in-process (SQLite), for this checkout and
for other git revisions, in interleaved runs: how a change to the OTLP path is judged.

Each run is a new process on a new store, readied as ``margin serve`` readies its workers
(``prepare_process``, which every revision since cfbab23 has): two untimed exports, then
``--requests`` timed ones through the ASGI app (``POST /v1/traces``, the bodies of
``bench/otlp_ingest.py``); it prints the median CPU (all threads) and wall time per export. Each revision is exported with
``git archive`` into a temporary directory and run with its own ``src`` first on the path;
the runs of all revisions take turns, ``--rounds`` times, and the medians of the rounds are
printed last.

    .venv/bin/python bench/otlp_cpu.py [--against REV ...] [--rounds 5] [--requests 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(requests: int) -> None:
    sys.path.insert(0, str(Path.cwd() / "bench"))  # the revision's own bodies and imports
    from fastapi.testclient import TestClient

    from margin.server.app import create_app, prepare_process
    from margin.settings import Settings
    from margin.store.db import Database
    from margin.store.keys import create_key, create_org
    from otlp_ingest import build_request

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        with db.write() as conn:
            org = create_org(conn, "bench")
            _key, secret = create_key(conn, org, "ingest")
        app = create_app(Settings(data_dir=Path(tmp)), db=db, migrate=False)
        # As ``margin serve`` readies each process: without it, the full collections an export
        # triggers walk the whole startup heap, and the figure is mostly the collector's.
        prepare_process()
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-protobuf"}
        bodies = [build_request(1000, seq) for seq in range(requests + 2)]
        cpu, wall = [], []
        with TestClient(app) as client:
            for i, body in enumerate(bodies):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                response = client.post("/v1/traces", content=body, headers=headers)
                assert response.status_code == 200, response.text
                assert response.content == b"", response.content
                if i >= 2:  # the first two warm the caches
                    cpu.append(time.process_time() - cpu0)
                    wall.append(time.perf_counter() - wall0)
        db.dispose()
    print(f"{statistics.median(cpu) * 1000:.2f} {statistics.median(wall) * 1000:.2f}")


def run(src: Path, requests: int) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(src / "src")}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(requests)],
        env=env,
        cwd=src,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", nargs="*", default=[], help="git revisions to compare")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this checkout": ROOT}
        for rev in args.against:
            tree = Path(tmp) / rev.replace("/", "_")
            tree.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", rev, "src", "bench"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            trees[rev] = tree
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        for round_ in range(args.rounds):
            for name, tree in trees.items():
                cpu, wall = run(tree, args.requests)
                results[name].append((cpu, wall))
                print(f"round {round_ + 1} {name:>14}: {cpu:7.1f} ms CPU  {wall:7.1f} ms wall")
        for name, got in results.items():
            cpu = statistics.median(c for c, _ in got)
            wall = statistics.median(w for _, w in got)
            print(f"median of {args.rounds} {name:>14}: {cpu:7.1f} ms CPU  {wall:7.1f} ms wall")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
