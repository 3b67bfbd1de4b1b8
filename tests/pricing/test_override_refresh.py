"""An override set through another server process reaches this one's price cache."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin.pricing import Pricer, create_override, delete_override
from margin.pricing import pricer as pricer_module
from margin.store.db import Database
from margin.store.keys import create_org

AT = 1_790_000_000_000_000
USAGE = {"input_tokens": 1_000_000}


def test_other_process_override_is_seen_after_the_ttl(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.write() as conn:
        org_id = create_org(conn, "acme")
    here = Pricer(db)
    assert here.price(org_id, "openai", "gpt-4o-mini", USAGE, AT).amount == Decimal("0.15")
    # Another process: its own Pricer writes the override; ours was never told.
    override = create_override(
        db,
        org_id,
        provider="openai",
        model="gpt-4o-mini",
        prices={"input": "0.1"},
        effective_from=0,
    )
    assert here.price(org_id, "openai", "gpt-4o-mini", USAGE, AT).amount == Decimal("0.15")
    monkeypatch.setattr(pricer_module, "OVERRIDE_TTL_SECONDS", 0.0)
    seen = here.price(org_id, "openai", "gpt-4o-mini", USAGE, AT)
    assert (seen.amount, seen.priced_by, seen.price_ref) == (
        Decimal("0.1"),
        "override",
        override.id,
    )
    delete_override(db, org_id, override.id)
    back = here.price(org_id, "openai", "gpt-4o-mini", USAGE, AT)
    assert (back.amount, back.priced_by) == (Decimal("0.15"), "catalog")
