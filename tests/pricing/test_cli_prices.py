"""``margin prices set`` and ``quote`` as a user runs them (Typer's runner, a SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from margin.cli_pricing import app
from margin.pricing import list_overrides
from margin.store.db import Database
from margin.store.keys import create_org

runner = CliRunner()


@dataclass
class Store:
    db: Database
    data_dir: str
    org: str


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.delenv("MARGIN_DATABASE_URL", raising=False)
    db = Database(f"sqlite:///{tmp_path / 'margin.db'}")
    db.upgrade()
    with db.write() as conn:
        org = create_org(conn, "acme")
    yield Store(db, str(tmp_path), org)
    db.dispose()


def run(data_dir: str, *args: str, answer: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", data_dir], input=answer)
    # Without the line naming the store (on stderr) that every store command prints first.
    said = [line for line in result.output.splitlines(True) if not line.startswith("store: ")]
    return result.exit_code, "".join(said)


def test_set_lists_the_catalog_models_and_waits_for_a_yes(store: Store) -> None:
    db, data_dir, org = store.db, store.data_dir, store.org
    args = ("set", "gpt-4o*", "--provider", "openai", "--price", "input=1")
    code, output = run(data_dir, *args, answer="n\n")
    assert code == 1
    assert "gpt-4o-mini" in output  # the costly surprise of a glob, shown before saving
    assert "gpt-4o-2024-05-13" in output
    assert "not saved" in output
    assert list_overrides(db, org) == []
    code, output = run(data_dir, *args, answer="y\n")
    assert code == 0, output
    assert [o.model_pattern for o in list_overrides(db, org)] == ["gpt-4o*"]


def test_set_a_model_name_shows_the_snapshots_it_covers(store: Store) -> None:
    db, data_dir, org = store.db, store.data_dir, store.org
    code, output = run(
        data_dir, "set", "gpt-4o", "--provider", "openai", "--price", "input=1", "--yes"
    )
    assert code == 0, output
    assert "gpt-4o-2024-08-06" in output
    assert "gpt-4o-mini" not in output
    [override] = list_overrides(db, org)
    assert override.covers("openai", "gpt-4o-2024-08-06")
    assert not override.covers("openai", "gpt-4o-mini")


def test_set_a_name_outside_the_catalog_says_so_and_saves(store: Store) -> None:
    db, data_dir, org = store.db, store.data_dir, store.org
    code, output = run(data_dir, "set", "house-1", "--price", "input=2")
    assert code == 0, output
    assert "matches no catalog model" in output
    assert len(list_overrides(db, org)) == 1


def test_set_rejects_bad_prices_before_asking(store: Store) -> None:
    data_dir = store.data_dir
    code, output = run(data_dir, "set", "gpt-4o", "--price", "inptu=1")
    assert code == 2
    assert "prices.inptu" in output
    assert "will price" not in output


def test_quote_without_provider_honours_a_provider_scoped_override(
    store: Store,
) -> None:
    data_dir = store.data_dir
    usage = '{"input_tokens": 2000000, "output_tokens": 2500000}'
    code, output = run(data_dir, "quote", "gpt-4o-mini", "--usage", usage)
    assert (code, output.split()[0]) == (0, "1.8")  # catalog: 2 × 0.15 + 2.5 × 0.60
    args = ("set", "gpt-4o-mini", "--provider", "openai", "--price", "input=0.10")
    assert run(data_dir, *args, "--price", "output=0.40", "--from", "2020-01-01", "--yes")[0] == 0
    code, output = run(data_dir, "quote", "gpt-4o-mini", "--usage", usage)
    assert (code, output.split()[0]) == (0, "1.2")  # 2 × 0.10 + 2.5 × 0.40
    assert "override" in output
