"""``margin org …`` and ``margin fx …`` on both stores: what the CLI writes, the API reads,
and bad input changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from margin.cli_fx import fx_app, org_app
from margin.store.db import Database
from margin_testing import Api, make_tenant

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fx"
MARGIN = str(Path(sys.executable).with_name("margin"))


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(db: Database, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run a CLI group in-process against the store under test."""
    monkeypatch.setenv("MARGIN_DATABASE_URL", db.url)
    runner = CliRunner()

    def invoke(group: typer.Typer, *args: str) -> tuple[int, str, str]:
        result = runner.invoke(group, list(args))
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_org_set_and_show_round_trip_with_the_api(run: Run, api: Api) -> None:
    code, out, err = run(
        org_app,
        "set",
        "--reporting-currency",
        "EUR",
        "--seller-name",
        "Acme Europe GmbH",
        "--seller-address",
        "Torstraße 1",
        "--seller-address",
        "10119 Berlin",
        "--seller-tax-id",
        "DE123456789",
    )
    assert code == 0, err
    assert "reporting currency EUR" in out
    body = api.get("/v1/organization", scope="read").json()
    assert body["reporting_currency"] == "EUR"
    assert body["seller"] == {
        "legal_name": "Acme Europe GmbH",
        "address": ["Torstraße 1", "10119 Berlin"],
        "email": None,
        "tax_id": "DE123456789",
    }
    api.patch("/v1/organization", json={"seller": {"email": "billing@acme.example"}})
    code, out, _ = run(org_app, "show", "--json")
    assert code == 0
    assert json.loads(out) == api.get("/v1/organization", scope="read").json()
    code, out, _ = run(org_app, "show")
    assert "seller.address.1: 10119 Berlin" in out
    assert run(org_app, "set", "--seller-tax-id", "")[0] == 0
    assert api.get("/v1/organization").json()["seller"]["tax_id"] is None


def test_org_set_refuses_bad_input_and_changes_nothing(run: Run, api: Api) -> None:
    before = api.get("/v1/organization").json()
    for args, field in (
        (("--reporting-currency", "XYZ"), "reporting_currency"),
        (("--display-name", "a\x00b"), "display_name"),
        (("--seller-name", "n" * 201), "seller.legal_name"),
        (("--seller-address", "ok", "--seller-address", "bad\tline"), "seller.address.1"),
    ):
        code, _out, err = run(org_app, "set", "--reporting-currency", "GBP", *args)
        assert code == 2, args
        assert field in err, (args, err)
    assert run(org_app, "set")[0] == 2  # nothing to change
    assert run(org_app, "show", "--org", "org_missing")[0] == 1
    assert api.get("/v1/organization").json() == before


def test_fx_set_import_list_convert_delete(run: Run, api: Api, tmp_path: Path) -> None:
    code, out, err = run(fx_app, "set", "EUR", "USD", "1.08670", "--date", "2026-03-05")
    assert code == 0, err
    assert "2026-03-05 1 EUR = 1.0867 USD (set)" in out
    got = api.get("/v1/exchange-rates/EUR/USD/2026-03-05", scope="read").json()
    assert (got["rate"], got["source"]) == ("1.0867", "manual")
    code, out, err = run(fx_app, "import", str(FIXTURES / "eurofxref-hist.xml"))
    assert code == 0, err
    assert "25 ecb rates from 2026-03-02 to 2026-03-06" in out
    assert "24 new, 1 replaced, 0 unchanged" in out
    csv = tmp_path / "rates.csv"
    csv.write_text("date,base,quote,rate\n2026-03-05,USD,JPY,147.65\n")
    code, out, err = run(fx_app, "import", str(csv), "--json")
    assert code == 0, err
    assert json.loads(out)["created"] == 1
    code, out, _ = run(fx_app, "list", "--quote", "USD", "--json")
    listed = json.loads(out)
    assert [(r["date"], r["rate"], r["source"]) for r in listed][:2] == [
        ("2026-03-06", "1.0843", "ecb"),
        ("2026-03-05", "1.0867", "ecb"),
    ]
    assert listed == api.get("/v1/exchange-rates", params={"quote": "USD"}).json()["data"]
    code, out, _ = run(fx_app, "list", "--from", "2026-03-06", "--base", "EUR")
    assert "5 rates" in out
    api.patch("/v1/organization", json={"reporting_currency": "GBP"})
    code, out, _ = run(fx_app, "convert", "3", "USD", "--at", "2026-03-07")
    assert code == 0
    assert out.strip() == (
        "2.375071475 GBP (rate 0.79169049156137600295, cross via EUR, of 2026-03-06)"
    )
    code, out, _ = run(fx_app, "convert", "3", "USD", "--at", "2026-03-07", "--json")
    assert (
        json.loads(out)
        == api.get(
            "/v1/exchange-rates/convert",
            params={"amount": "3", "currency": "USD", "at": "2026-03-07"},
            scope="read",
        ).json()
    )
    assert run(fx_app, "convert", "3", "NOK", "--at", "2026-03-07")[0] == 1  # no rate: says so
    assert run(fx_app, "delete", "USD", "JPY", "2026-03-05")[0] == 0
    assert run(fx_app, "delete", "USD", "JPY", "2026-03-05")[0] == 1
    assert api.get("/v1/exchange-rates/USD/JPY/2026-03-05").status_code == 404


def test_fx_refuses_bad_input_and_changes_nothing(run: Run, api: Api, tmp_path: Path) -> None:
    run(fx_app, "set", "EUR", "USD", "1.07", "--date", "2026-03-01")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,base,quote,rate\n2026-03-05,EUR,USD,1.08\n2026-03-06,EUR,GBP,-1\n")
    for args, message in (
        (("set", "EUR", "XYZ", "1.1", "--date", "2026-03-05"), "quote"),
        (("set", "EUR", "USD", "0", "--date", "2026-03-05"), "rate"),
        (("set", "EUR", "USD", "1.1", "--date", "05/03/2026"), "date"),
        (("import", str(bad)), "line 3: rate"),
        (("import", str(tmp_path / "absent.csv")), "cannot read"),
        (("import", str(bad), "--format", "xls"), "--format"),
        (("list", "--from", "yesterday"), "--from"),
        (("convert", "1.5.5", "EUR"), "not a decimal"),
    ):
        code, _out, err = run(fx_app, *args)
        assert code == 2, (args, err)
        assert message in err, (args, err)
    listed = api.get("/v1/exchange-rates", scope="read").json()["data"]
    assert [(r["date"], r["quote"], r["rate"]) for r in listed] == [("2026-03-01", "USD", "1.07")]


def test_the_org_option_picks_the_organization(run: Run, api: Api) -> None:
    other = make_tenant(api.db, "globex")
    args = ("--date", "2026-03-05", "--org", other.org_id)
    assert run(fx_app, "set", "EUR", "USD", "2", *args)[0] == 0
    assert api.get("/v1/exchange-rates", scope="read").json()["data"] == []
    theirs = api.client.get("/v1/exchange-rates", headers=other.headers("read")).json()["data"]
    assert [(r["base"], r["rate"]) for r in theirs] == [("EUR", "2")]


def test_the_margin_command_has_org_and_fx(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'margin.db'}")
    db.upgrade()
    make_tenant(db)
    db.dispose()
    env = {"PATH": str(Path(sys.executable).parent), "COLUMNS": "200"}
    done = subprocess.run(
        [MARGIN, "org", "set", "--reporting-currency", "EUR", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "reporting currency EUR" in done.stdout
    helped = subprocess.run([MARGIN, "fx", "--help"], capture_output=True, text=True, env=env)
    assert all(c in helped.stdout for c in ("set", "import", "list", "convert", "delete"))
