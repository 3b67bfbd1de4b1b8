"""How ``make pytest`` hands the tests to its processes (``-n 3 --dist loadgroup``): one at a
time, in the order collected, except the tests that one process must run together (a group).

A group is the tests of one parameter of a session fixture (the compatibility tests' server
of each store: otherwise a process alternating stores starts a new server at each switch),
or else the tests of a module sharing a module fixture (set up once, not once per process).
xdist's own ``loadgroup`` reads groups from node ids, which pytest 9 no longer lets a plugin
change; here each test process writes the groups it collected to a file the controller
reads before it hands out the first test.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

#: The key of the groups file's path in each test process's ``workerinput``.
KEY = "margin_groups"


def group_of(item: pytest.Item) -> str | None:
    """The group of ``item``, or None when any process may run it alone."""
    fixtures = item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
    params = getattr(getattr(item, "callspec", None), "params", {})
    browser = " (browser)" if item.get_closest_marker("browser") else ""  # never mixed
    for name, defs in fixtures.items():
        if defs[-1].scope == "session" and name in params:
            return f"{name}[{params[name]}]{browser}"
    if any(defs[-1].scope in ("package", "module", "class") for defs in fixtures.values()):
        return item.nodeid.split("::")[0] + browser
    return None


def write_groups(config: pytest.Config, groups: dict[str, str]) -> None:
    """In a test process: hand the groups of its collection to the controller."""
    path = getattr(config, "workerinput", {}).get(KEY)
    if path is None:
        return
    scratch = f"{path}.{os.getpid()}"
    Path(scratch).write_text(json.dumps(groups))
    os.replace(scratch, path)  # every process writes the same; none reads half of one


def configure_node(node: Any) -> None:
    """In the controller: where the test processes write their groups."""
    config = node.config
    if not hasattr(config, "_margin_groups"):
        config._margin_groups = Path(tempfile.mkdtemp(prefix="margin-groups-")) / "groups.json"
        config.add_cleanup(lambda: _remove(config._margin_groups))
    node.workerinput[KEY] = str(config._margin_groups)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()


class GroupScheduling(LoadScopeScheduling):
    """xdist's scheduling by scope, a scope being a test's group or else the test alone."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        # The collection's order is the schedule's (browser tests last), not the group sizes.
        config.option.loadscopereorder = False
        self._groups: dict[str, str] = {}

    def schedule(self) -> None:
        if self.collection is None:  # the first call: every process has collected
            path = getattr(self.config, "_margin_groups", None)
            if path is not None and path.exists():
                self._groups = json.loads(path.read_text())
        super().schedule()

    def _split_scope(self, nodeid: str) -> str:
        return self._groups.get(nodeid, nodeid)
