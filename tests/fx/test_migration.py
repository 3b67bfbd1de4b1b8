"""Migration 0010 on both stores: organizations made before it keep their data and get the
default settings; its downgrade removes only its own tables."""

from __future__ import annotations

from sqlalchemy import inspect

from margin.fx import check_rate, list_rates, set_rates
from margin.store.db import Database, downgrade, upgrade
from margin.store.keys import create_org
from margin.store.organization import get_settings, update_settings


def test_0010_keeps_organizations_and_downgrades_cleanly(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        upgrade(db.engine, "0008_otlp_cost_keys")
        with db.write() as conn:
            org_id = create_org(conn, "acme")
        db.upgrade()
        with db.write() as conn:
            found = get_settings(conn, org_id)
            assert found is not None
            assert (found.display_name, found.reporting_currency) == ("acme", "USD")
            update_settings(conn, org_id, {"reporting_currency": "EUR"})
            set_rates(conn, org_id, [check_rate("EUR", "USD", "2026-03-05", "1.0867")])
        with db.read() as conn:
            assert [str(r.rate) for r in list_rates(conn, org_id)] == ["1.0867"]
        downgrade(db.engine, "0008_otlp_cost_keys")
        tables = set(inspect(db.engine).get_table_names())
        assert "organizations" in tables
        assert not tables & {"organization_settings", "exchange_rates"}
        db.upgrade()
        with db.read() as conn:
            again = get_settings(conn, org_id)
            assert again is not None
            assert (again.display_name, again.reporting_currency) == ("acme", "USD")
    finally:
        db.dispose()
