"""The codebase's shape, read from its source: imports point one way through the layers, and no
module is too long to read in one sitting.

Layers, lowest first (a module may import its own layer's lower ranks and any lower layer):
core helpers (``margin._*``, ``semconv``, ``settings``) ← usage / store / pricing / fx and the
SDK ← billing ← reports ← control ← server ← compat / queue ← demo ← CLI ← the composition
roots (the app, bootstrap, the ``margin`` command, the package facade) ← dashboard.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "margin"
MAX_LINES = 400

# Module prefix → rank; the longest matching prefix wins.
RANKS: dict[str, int] = {
    "margin._": 0,
    "margin.semconv": 0,
    "margin.settings": 0,
    "margin.usage": 10,
    "margin.store": 11,
    "margin.sdk": 12,
    "margin.pricing": 13,
    "margin.fx": 14,
    "margin.billing": 20,
    "margin.reports": 21,
    "margin.control": 22,
    "margin.server": 30,
    "margin.compat": 31,
    "margin.queue": 32,
    "margin.demo": 33,
    "margin.cli_": 34,
    "margin.server.app": 40,
    "margin.server.bootstrap": 40,
    "margin.cli": 41,
    "margin.__main__": 42,
    "margin": 42,
    "margin.dashboard": 43,
}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def rank(module: str) -> int:
    best = ""
    for prefix in RANKS:
        if prefix.endswith("_") and module.startswith(prefix):
            match = True
        else:
            match = module == prefix or module.startswith(prefix + ".")
        if match and len(prefix) > len(best):
            best = prefix
    if not best:
        raise KeyError(f"{module}: give its package a rank in tests/test_layers.py")
    return RANKS[best]


def _sources() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts]


def _imports(path: Path) -> set[str]:
    """The ``margin`` modules a file imports (``from margin import x`` names ``margin.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("margin"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "margin":
                found.update(f"margin.{a.name}" for a in node.names)
            elif node.module.startswith("margin."):
                found.add(node.module)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for path in _sources():
        try:
            rank(_module(path))
        except KeyError as exc:
            unplaced.append(str(exc))
    assert not unplaced


def test_no_import_points_up_a_layer() -> None:
    upward = []
    for path in _sources():
        module = _module(path)
        for target in sorted(_imports(path)):
            if rank(target) > rank(module):
                upward.append(f"{module} ({rank(module)}) imports {target} ({rank(target)})")
    assert not upward, "\n".join(upward)


def test_the_sdk_needs_no_server_package() -> None:
    allowed = ("margin.sdk", "margin.usage", "margin.semconv", "margin._")
    strays = [
        f"{_module(path)} imports {target}"
        for path in _sources()
        if _module(path).startswith("margin.sdk")
        for target in _imports(path)
        if not target.startswith(allowed)
    ]
    assert not strays


@pytest.mark.parametrize("limit", [MAX_LINES])
def test_no_module_is_too_long_to_read(limit: int) -> None:
    long = {
        _module(p): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > limit
    }
    assert not long, f"modules over {limit} lines: {long}"


def test_rank_reads_the_longest_prefix() -> None:
    assert rank("margin.server.app") == 40
    assert rank("margin.server.routes.costs") == 30
    assert rank("margin.cli_fx") == 34
    assert rank("margin.cli") == 41
    assert rank("margin._time") == 0
