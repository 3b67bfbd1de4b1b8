"""Every ``margin`` command, every parameter, given values a shell can pass but no command
should take as they are: an integer past 64 bits, JSON text holding an escaped NUL (which no
store keeps). Each run ends in an answer or one refusal line, never a traceback, on SQLite
and PostgreSQL alike. The commands are read from the app, so a new one is covered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from margin import cli as margin_cli
from margin.cli_store import StoreError
from margin.settings import SettingsError
from margin.store.db import Database
from margin_testing import Tenant

pytestmark = pytest.mark.slow

#: Long-running or not about the store's input: the server, the queue's worker and tools,
#: archiving (PostgreSQL only, its own tests), the version.
SKIP = {"serve", "worker", "queue", "archive", "version"}
VALUES = ("99999999999999999999999", '{"a": "\\u0000"}')
#: What ``margin_cli.main`` turns into one line (the runner calls the app, not ``main``).
HANDLED = (SystemExit, StoreError, SettingsError)


def _leaves(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            if path or name not in SKIP:
                yield from _leaves(sub, [*path, name])
    else:
        yield path, command


def _root() -> Any:
    margin_cli._mount_features()
    return typer.main.get_command(margin_cli.app)


def _cases(group: str) -> Iterator[tuple[list[str], Any, list[Any]]]:
    for path, command in _leaves(_root().commands[group], [group]):
        params = [p for p in command.params if p.name not in ("data_dir", "org", "help")]
        for param in params:
            if not getattr(param, "is_flag", False):
                yield path, param, params


#: One test per top-level command, so that the test processes share the work.
GROUPS = sorted(name for name in _root().commands if name not in SKIP and any(_cases(name)))


@pytest.mark.parametrize("group", GROUPS)
def test_no_command_answers_a_value_with_a_traceback(
    db: Database, tenant: Tenant, group: str
) -> None:
    runner = CliRunner()
    env = {"MARGIN_DATABASE_URL": db.url, "COLUMNS": "200"}
    failures = []
    for path, param, params in _cases(group):
        for value in VALUES:
            args = list(path)
            for other in params:
                given = value if other is param else ("x" if other.required else None)
                if given is None:
                    continue
                is_argument = not getattr(other, "opts", None) or not other.opts[0].startswith("-")
                args += [given] if is_argument else [other.opts[0], given]
            out = runner.invoke(margin_cli.app, [*args, "--org", tenant.org_id], env=env)
            if (
                out.exception is not None and not isinstance(out.exception, HANDLED)
            ) or "Traceback" in out.output:
                failures.append(f"{' '.join(path)} {param.name}={value!r}: {out.exception!r}")
    assert failures == []
