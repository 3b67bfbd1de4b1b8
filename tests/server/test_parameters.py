"""Every route's path and query parameters, probed with what no store holds or no URL decodes
to as sent: NUL, the UTF-8 bytes of a lone surrogate, bytes that are not UTF-8, an overlong
NUL, and a very long value. PostgreSQL refuses NUL in text where SQLite stores it, so each
answer is compared across the stores: the same status from both, never a server error, a
refusal as a problem, and a NUL refused with a 422 naming its parameter.

The routes are read from the app's route table (hidden ones included), so a new route is
probed as soon as it exists; a parameter named below gets a value that exists in the store,
so that the probe of another parameter of the route reaches its lookup."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from margin.server.app import create_app
from margin.settings import Settings
from margin.store.db import Database
from margin.store.directory import AGENTS, CUSTOMERS
from margin.store.schema import metadata
from margin_testing import Api, app_client, make_tenant

PROBES = {
    "nul": "a%00b",
    "lone_surrogate": "%ED%A0%80",
    "not_utf8": "a%FF%FEb",
    "overlong_nul": "%C0%80",
    "long": "x" * 4000,
}
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
#: Statuses of answers that are not problems: a page or a lookup that found something.
_FOUND = range(200, 400)


def _routes() -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path, query parameters) of every route of the app."""
    app = create_app(Settings(database_url="sqlite://"), migrate=False)
    found = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        query = tuple(p.alias or p.name for p in context.dependant.query_params)
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                found.append((method, context.path, query))
    return found


ROUTES = _routes()


@pytest.fixture(scope="module")
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Api, dict[str, str]]]]:
    """Both stores, each with its API and the values of the path parameters named alike
    across routes, that exist in it. Made once for the module: the probes may change what
    is stored, but each store gets the same requests in the same order."""
    CUSTOMERS._ids.clear()
    AGENTS._ids.clear()
    sqlite = tmp_path_factory.mktemp("parameters") / "margin.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), sqlite)
    postgres = Database(request.getfixturevalue("postgres_url"))
    with postgres.engine.begin() as conn:  # what an earlier test left
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    with ExitStack() as stack:
        found = {}
        for store, db in (("sqlite", Database(f"sqlite:///{sqlite}")), ("postgres", postgres)):
            stack.callback(db.dispose)
            settings = Settings(data_dir=tmp_path_factory.mktemp(store))
            client = stack.enter_context(app_client(settings, db))
            api = Api(client=client, db=db, tenant=make_tenant(db), settings=settings)
            found[store] = (api, _seed(api))
        yield found


def _seed(api: Api) -> dict[str, str]:
    made = api.post("/v1/customers", json={"external_id": "acme"})
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert api.post(f"/v1/customers/{cid}/units", json={"external_id": "u0"}).status_code == 201
    meter = {"key": "tok", "event_type": "llm", "aggregation": "count"}
    assert api.post("/v1/meters", json=meter).status_code == 201
    named = {"customer": cid, "party_id": cid, "ref": "acme", "external_id": "acme"}
    return {
        **named,
        "unit": "u0",
        "key": "tok",
        "base": "EUR",
        "quote": "USD",
        "date": "2026-01-01",
    }


def _answer(api: Api, method: str, url: str) -> tuple[int, str | None]:
    response = api.request(method, url)
    assert response.status_code < 500, (method, url[:120], response.text)
    if response.status_code in _FOUND:
        return response.status_code, None
    assert response.headers["content-type"] in ("application/problem+json", "application/json")
    body = response.json()
    assert body["status"] == response.status_code, body
    return response.status_code, body.get("field")


@pytest.mark.parametrize(
    ("method", "path", "query"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_hostile_parameters_are_answered_alike_by_both_stores(
    stores: dict[str, tuple[Api, dict[str, str]]], method: str, path: str, query: tuple[str, ...]
) -> None:
    def url(store: str, probed: str | None = None, value: str = "") -> str:
        given = stores[store][1]
        return _PARAM.sub(
            lambda m: value if m.group(1) == probed else given.get(m.group(1), "x"), path
        )

    params = [(name, False) for name in _PARAM.findall(path)] + [(q, True) for q in query]
    for name, value in PROBES.items():
        for param, in_query in params:
            answers = {}
            for store, (api, _) in stores.items():
                target = f"{url(store)}?{param}={value}" if in_query else url(store, param, value)
                answers[store] = _answer(api, method, target)
            assert answers["sqlite"][0] == answers["postgres"][0], (method, path, param, answers)
            if name == "nul":
                assert answers["sqlite"] == (422, param), (method, path, param, answers)


def test_every_route_is_probed() -> None:
    paths = {path for _, path, _ in ROUTES}
    assert {"/v1/customers/{party_id}", "/v1/reports/margin", "/api/{rest:path}"} <= paths
    assert len(ROUTES) > 200
