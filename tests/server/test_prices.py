"""``/v1/prices``: overrides CRUD, quotes and the catalog view; an override re-prices quotes
and new costs at once."""

from __future__ import annotations

from sqlalchemy import select

from margin.store.schema import costs
from margin_testing import Api, make_tenant

# gpt-4o-mini in genai-prices 0.2.3: $0.15 per M input tokens, $0.60 per M output tokens.
MINI = {"provider": "openai", "model": "gpt-4o-mini"}


def test_quote_then_override_then_quote(api: Api) -> None:
    params = {**MINI, "input_tokens": 1_000_000, "output_tokens": 1_000_000}
    catalog = api.get("/v1/prices/quote", params=params, scope="read").json()
    assert catalog["priced_by"] == "catalog"
    assert catalog["amount"] == "0.75"  # 0.15 + 0.60
    created = api.post(
        "/v1/prices",
        json={**MINI, "prices": {"input": "0.10", "output": "0.40"}, "note": "negotiated"},
    )
    assert created.status_code == 201
    override = created.json()
    quoted = api.get("/v1/prices/quote", params=params, scope="read").json()
    assert quoted["priced_by"] == "override"
    assert quoted["price_ref"] == override["id"]
    assert quoted["amount"] == "0.5"  # 0.10 + 0.40
    cost = {"customer": "a", **MINI, "usage": {"input_tokens": 2_000_000, "output_tokens": 500_000}}
    api.post("/v1/costs", json=cost, scope="ingest")
    with api.db.read() as conn:
        row = conn.execute(select(costs.c.amount_nanos, costs.c.priced_by)).one()
    assert (row.amount_nanos, row.priced_by) == (400_000_000, "override")  # 0.2 + 0.2
    assert [o["id"] for o in api.get("/v1/prices", scope="read").json()["data"]] == [override["id"]]
    assert api.delete(f"/v1/prices/{override['id']}").json()["deleted"] is True
    again = api.get("/v1/prices/quote", params=params, scope="read").json()
    assert (again["priced_by"], again["amount"]) == ("catalog", "0.75")


def test_catalog_view_lists_rates_and_overrides(api: Api) -> None:
    body = api.get("/v1/prices/catalog", params=MINI, scope="read").json()
    rates = {p["kind"]: (p["price"], p["per"]) for p in body["prices"]}
    assert rates["input_tokens"] == ("0.15", 1_000_000)
    assert rates["cache_read_tokens"] == ("0.075", 1_000_000)
    assert rates["output_tokens"] == ("0.6", 1_000_000)
    assert body["currency"] == "USD"
    assert body["ref"].startswith("genai-prices@0.2.3:openai/gpt-4o-mini")
    override = api.post("/v1/prices", json={**MINI, "prices": {"input": "0.1"}}).json()
    again = api.get("/v1/prices/catalog", params=MINI, scope="read").json()
    assert [o["id"] for o in again["overrides"]] == [override["id"]]
    unknown = api.get("/v1/prices/catalog", params={"model": "no-such-model-x"}, scope="read")
    assert unknown.status_code == 404


def test_bad_overrides_name_the_field_and_store_nothing(api: Api) -> None:
    cases = [
        ({**MINI, "prices": {}}, "prices"),
        ({**MINI, "prices": {"bogus": "1"}}, "prices.bogus"),
        ({**MINI, "prices": {"input": "-1"}}, "prices.input"),
        ({**MINI, "prices": {"input": "abc"}}, "prices.input"),
        ({**MINI, "prices": {"input": "1"}, "currency": "usd"}, "currency"),
        ({**MINI, "prices": {"input": "1"}, "effective_from": "soon"}, "effective_from"),
        (
            {
                **MINI,
                "prices": {"input": "1"},
                "effective_from": "2026-02-01T00:00:00Z",
                "effective_to": "2026-01-01T00:00:00Z",
            },
            "effective_to",
        ),
        ({"model": "x", "prices": {"input": "1"}}, "provider"),
    ]
    for body, field in cases:
        response = api.post("/v1/prices", json=body)
        assert response.status_code == 422, body
        assert response.json()["field"] == field, body
    assert api.get("/v1/prices", scope="read").json()["data"] == []
    bad_quote = api.get("/v1/prices/quote", params={**MINI, "input_tokens": "-5"}, scope="read")
    assert bad_quote.status_code == 422
    assert bad_quote.json()["field"] == "input_tokens"


def test_overrides_are_per_tenant_and_need_admin(api: Api) -> None:
    body = {**MINI, "prices": {"input": "1"}}
    assert api.post("/v1/prices", json=body, scope="read").status_code == 403
    assert api.post("/v1/prices", json=body, scope="ingest").status_code == 403
    mine = api.post("/v1/prices", json=body).json()
    other = make_tenant(api.db, "other")
    theirs = api.client.get(f"/v1/prices/{mine['id']}", headers=other.headers())
    assert theirs.status_code == 404
    assert api.client.delete(f"/v1/prices/{mine['id']}", headers=other.headers()).status_code == 404
    params = {**MINI, "input_tokens": 1_000_000}
    their_quote = api.client.get("/v1/prices/quote", params=params, headers=other.headers()).json()
    assert their_quote["priced_by"] == "catalog"
    assert their_quote["amount"] == "0.15"


def test_reprice_after_an_override_moves_every_rollup(api: Api) -> None:
    from sqlalchemy import func

    from margin.pricing import reprice
    from margin.store.schema import cost_rollups, cost_rollups_daily

    cost = {
        "customer": "a",
        "provider": "acme-ai",
        "model": "house-1",
        "usage": {"input_tokens": 1_000_000},
        "timestamp": "2026-10-05T12:00:00Z",
    }
    api.post("/v1/costs", json=cost, scope="ingest")
    api.post(
        "/v1/prices",
        json={
            "provider": "acme-ai",
            "model": "house-*",
            "prices": {"input": "2.5"},
            "effective_from": "2026-01-01T00:00:00Z",
        },
    )
    state = api.client.app.state.margin  # type: ignore[attr-defined]
    changed = reprice(api.db, state.pricer, api.tenant.org_id, 0, 2**62)
    assert [str(c.new_amount) for c in changed] == ["2.500000000"]
    from margin.store.schema import cost_repricings

    with api.db.read() as conn:
        history = conn.execute(select(cost_repricings)).one()
    assert history.cost_id == changed[0].cost_id
    assert (history.old_amount_nanos, history.old_priced_by) == (None, "unpriced")
    assert (history.new_amount_nanos, history.new_priced_by) == (2_500_000_000, "override")
    with api.db.read() as conn:
        for table in (cost_rollups, cost_rollups_daily):
            totals = conn.execute(
                select(func.sum(table.c.amount_nanos), func.sum(table.c.unpriced))
            ).one()
            assert tuple(int(t) for t in totals) == (2_500_000_000, 0), table.name
    report = api.get(
        "/v1/reports/summary", params={"from": "2026-10-01", "to": "2026-11-01"}, scope="read"
    ).json()
    assert report["totals"] == [{"currency": "USD", "cost": "2.5"}]


def test_a_cost_keeps_its_price_context_and_repricing_applies_it(api: Api) -> None:
    from margin.pricing import reprice

    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    base = {
        "customer": "a",
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "usage": usage,
        "timestamp": "2026-10-20T12:00:00Z",  # the batch price applies from 2026-10-14
    }
    batch = {**base, "price_context": {"processing": "batch"}, "idempotency_key": "batch-1"}
    plain = {**base, "idempotency_key": "plain-1"}
    for item in (batch, plain):
        assert api.post("/v1/costs", json=item, scope="ingest").status_code in (200, 201)
    listed = api.get("/v1/costs", scope="read").json()["data"]
    by_context = {str(c["price_context"]): (c["amount"], c["price_ref"]) for c in listed}
    assert by_context == {
        "{'processing': 'batch'}": ("3", by_context["{'processing': 'batch'}"][1]),
        "None": ("6", by_context["None"][1]),
    }
    assert by_context["{'processing': 'batch'}"][1].endswith("[processing=batch]")
    state = api.client.app.state.margin  # type: ignore[attr-defined]
    # Every priced cost is priced again: the batch one with its context, so nothing changes.
    assert reprice(api.db, state.pricer, api.tenant.org_id, 0, 2**62, only_unpriced=False) == []
    again = api.get("/v1/costs", scope="read").json()["data"]
    assert sorted(c["amount"] for c in again) == ["3", "6"]


def test_an_override_on_a_model_covers_its_snapshots_and_says_so(api: Api) -> None:
    preview = api.get(
        "/v1/prices/coverage", params={"provider": "openai", "model": "gpt-4o"}, scope="read"
    ).json()["data"]
    assert [(m["provider"], m["model"]) for m in preview] == [("openai", "gpt-4o")]
    assert "gpt-4o-2024-08-06" in preview[0]["names"]
    globbed = api.get(
        "/v1/prices/coverage", params={"provider": "openai", "model": "gpt-4o*"}, scope="read"
    ).json()["data"]
    assert "gpt-4o-mini" in {m["model"] for m in globbed}
    created = api.post(
        "/v1/prices", json={"provider": "openai", "model": "gpt-4o", "prices": {"input": "1"}}
    ).json()
    assert created["covers"] == preview
    params = {"provider": "openai", "input_tokens": 1_000_000}
    dated = api.get(
        "/v1/prices/quote", params={**params, "model": "gpt-4o-2024-08-06"}, scope="read"
    ).json()
    assert (dated["amount"], dated["price_ref"]) == ("1", created["id"])
    mini = api.get("/v1/prices/quote", params={**params, "model": "gpt-4o-mini"}, scope="read")
    assert (mini.json()["amount"], mini.json()["priced_by"]) == ("0.15", "catalog")
    # Without a provider the catalog's provider of the model applies: the override too.
    bare = api.get(
        "/v1/prices/quote",
        params={"model": "gpt-4o-2024-08-06", "input_tokens": 1_000_000},
        scope="read",
    ).json()
    assert bare["price_ref"] == created["id"]


def test_the_openapi_document_describes_every_prices_response(api: Api) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path, methods in paths.items():
        if not path.startswith("/v1/prices"):
            continue
        for method, operation in methods.items():
            ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            schema = ok["content"]["application/json"]["schema"]
            assert "$ref" in schema, (method, path, schema)
