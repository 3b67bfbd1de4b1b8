"""``--repeat N`` for the benchmarks: a script run in N fresh processes, one after the other,
and the median of each figure it prints over them."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys

__all__ = ["repeat_if_asked"]


def repeat_if_asked(script: str, times: int, label: str, figures: dict[str, str]) -> bool:
    """When ``times`` > 1, run ``script`` with this process's arguments (``--repeat`` left
    out) ``times`` times, print every run's lines and then, for each line label (the first
    group of the ``label`` pattern) and figure (the first group of its pattern), the median
    over the runs and its range; True when it did (the caller then has nothing left to do)."""
    if times <= 1:
        return False
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg.startswith("--repeat"):
            del argv[i : i + (1 if "=" in arg else 2)]
            break
    found: dict[str, dict[str, list[float]]] = {}
    for n in range(times):
        proc = subprocess.run([sys.executable, script, *argv], capture_output=True, text=True)
        proc.check_returncode()
        for line in proc.stdout.splitlines():
            print(f"run {n + 1} {line}", flush=True)
            named = re.match(label, line)
            for name, pattern in figures.items():
                value = re.search(pattern, line)
                if named and value:
                    number = float(value[1].replace(",", ""))
                    found.setdefault(named[1], {}).setdefault(name, []).append(number)
    for key, values_by_name in found.items():
        for name, values in values_by_name.items():
            form = ",.0f" if all(v.is_integer() for v in values) else ",.2f"
            print(
                f"[{key}] {name}: median {statistics.median(values):{form}} over {len(values)} "
                f"runs ({min(values):{form}} to {max(values):{form}})"
            )
    return True
