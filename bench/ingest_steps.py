"""Where a REST batch of 1,000 signals goes in the server on SQLite: the CPU time of each of
the ledger's steps, timed by wrapping the ledger's own functions (thread CPU time), the
median of the batches after the first ten. A reading aid beside ``bench/ingest.py``.

    .venv/bin/python bench/ingest_steps.py [--batches 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from _server import LoopbackServer
from ingest import batch
from margin._payload import parse_json
from margin.server import _signals, ledger
from margin.server.routes.ingest import _answer
from margin.server.state import AppState
from margin.store.rollups import SignalRollup

TIMES: dict[str, list[float]] = defaultdict(list)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name].append(time.thread_time() - start)

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()
    ledger.Ledger._signals = timed("plan", ledger.Ledger._signals)  # type: ignore[method-assign]
    ledger.store_signals = timed("store", ledger.store_signals)
    _signals.insert_tuples = timed("insert", _signals.insert_tuples)
    ledger.consume = timed("credits", ledger.consume)
    SignalRollup.flush = timed("rollups", SignalRollup.flush)  # type: ignore[method-assign]
    ledger.Ledger._transact = timed("transaction", ledger.Ledger._transact)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        server = LoopbackServer(f"sqlite:///{tmp}/bench.db", Path(tmp))
        app: Any = server.server.config.app
        service = AppState.of(type("Request", (), {"app": app})()).ledger()
        for n in range(args.batches):
            body = orjson.dumps({"items": batch(0, n)})
            items = timed("json", parse_json)(body)["items"]
            result = timed("ledger", service.ingest_signals)(server.org_id, items)
            timed("answer", _answer)(result, False)
        server.db.dispose()
    ms = {name: statistics.median(values[10:]) * 1e3 for name, values in TIMES.items()}
    steps = {
        "JSON body parse": ms["json"],
        "plan: checks, canonical JSON, validation, digest, key": ms["plan"],
        "rows: parties, row values, results": ms["store"] - ms["insert"],
        "the insert (executemany)": ms["insert"],
        "credits and rollups": ms["credits"] + ms["rollups"],
        "begin and commit": ms["transaction"] - ms["store"] - ms["credits"] - ms["rollups"],
        "the answer": ms["answer"],
    }
    for name, value in steps.items():
        print(f"{name:<56} {value:6.2f} ms")
    print(f"{'ledger in all':<56} {ms['ledger']:6.2f} ms")


if __name__ == "__main__":
    main()
